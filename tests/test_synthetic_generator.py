"""The batched synthetic data generator: labels agree with what is rendered."""
import numpy as np
import pytest
import torch

from ros_phmr.body import BodyModel
from ros_phmr.demo import synthetic_model_path
from ros_phmr.render.rasterizer import rasterize
from ros_phmr.synthetic.dataset import SyntheticBatchMaker
from ros_phmr.synthetic.poses import joint_limits, random_body_pose
from ros_phmr.synthetic.splat_raster import render_fragments


@pytest.fixture(scope="module")
def body():
    return BodyModel.from_file(synthetic_model_path())


@pytest.fixture(scope="module")
def batch(body):
    maker = SyntheticBatchMaker(body, 160, 160, max_people=4, min_people=2, letterbox=True, subdivisions=3)
    return maker.make(3, torch.Generator().manual_seed(3))


def test_poses_are_rotations_within_limits():
    rot = random_body_pose(64, torch.Generator().manual_seed(0))
    assert rot.shape == (64, 21, 3, 3)
    eye = torch.eye(3).expand_as(rot)
    assert torch.allclose(rot @ rot.transpose(-1, -2), eye, atol=1e-5)
    low, high = joint_limits()
    # Knees bend one way only: the rotation angle never exceeds the largest allowed magnitude.
    angle = torch.arccos(((rot.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    bound = torch.linalg.norm(torch.maximum(low.abs(), high.abs()), dim=-1)
    assert (angle <= bound + 1e-4).all()


def test_same_seed_same_batch(body):
    maker = SyntheticBatchMaker(body, 64, 64, max_people=2, subdivisions=1)
    a = maker.make(2, torch.Generator().manual_seed(5))
    b = maker.make(2, torch.Generator().manual_seed(5))
    assert torch.equal(a.transl, b.transl) and torch.equal(a.masks, b.masks)


def test_pose_places_the_people_that_make_renders(body):
    maker = SyntheticBatchMaker(body, 64, 64, max_people=3, subdivisions=1)
    posed = maker.pose(2, torch.Generator().manual_seed(9))
    made = maker.make(2, torch.Generator().manual_seed(9))
    assert torch.equal(posed.joints.view(2, 3, -1, 3), made.joints)
    assert torch.equal(posed.vertices.view(2, 3, -1, 3), made.vertices)
    assert torch.equal(posed.layout.K, made.K) and torch.equal(posed.layout.valid, made.valid)


def test_joints_project_inside_boxes(batch):
    keep = batch.detectable
    assert keep.any()
    uv = batch.joints2d[keep][:, :22]                                  # (M, 22, 2)
    box = batch.boxes[keep]                                            # (M, 4)
    content = batch.content[keep.nonzero()[:, 0]].float()
    inside_img = ((uv[..., 0] >= content[:, None, 0]) & (uv[..., 0] < content[:, None, 2])
                  & (uv[..., 1] >= content[:, None, 1]) & (uv[..., 1] < content[:, None, 3]))
    inside_box = ((uv[..., 0] >= box[:, None, 0] - 1e-3) & (uv[..., 0] <= box[:, None, 2] + 1e-3)
                  & (uv[..., 1] >= box[:, None, 1] - 1e-3) & (uv[..., 1] <= box[:, None, 3] + 1e-3))
    assert inside_box[inside_img].all()
    # The joints are the projection of the 3D joints with K.
    z = batch.joints[..., 2:]
    proj = torch.einsum("bij,bpnj->bpni", batch.K, batch.joints / z)[..., :2]
    assert torch.allclose(proj[batch.valid], batch.joints2d[batch.valid], atol=1e-3)


def test_masks_are_the_rendered_silhouettes(batch):
    masks = batch.masks                                                 # (B, P, H, W)
    assert not (masks.sum(1) > 1).any()                                # one person per pixel
    assert not masks[~batch.valid].any()
    covered = masks.any(1)
    assert torch.equal(covered, torch.isfinite(batch.depth) & covered)
    assert torch.equal(covered, batch.parts >= 0)
    # Visible boxes enclose exactly the mask pixels.
    for b, p in batch.valid.nonzero().tolist():
        ys, xs = masks[b, p].nonzero(as_tuple=True)
        if len(ys):
            assert batch.visible_boxes[b, p].tolist() == [xs.min().item(), ys.min().item(),
                                                         xs.max().item() + 1, ys.max().item() + 1]
    # Outside the letterbox content the image is black and nobody is labelled.
    for b in range(batch.images.shape[0]):
        x0, y0, x1, y1 = batch.content[b].tolist()
        assert batch.images[b, :, :y0].abs().sum() == 0 and batch.images[b, :, y1:].abs().sum() == 0
        assert not masks[b, :, :y0].any() and not masks[b, :, y1:].any()


def test_splatting_matches_triangle_rasteriser(body):
    """Silhouette of one posed body vs the numpy triangle rasteriser (an independent method)."""
    eye = torch.eye(3)
    go = torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])[None]
    out = body(go, eye.expand(1, 21, 3, 3))
    verts = out.vertices + torch.tensor([0.0, 0.3, 3.0])
    K = torch.tensor([[[150.0, 0, 79.5], [0, 150.0, 79.5], [0, 0, 1]]])
    frags = render_fragments(verts, body.faces, torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long),
                             K, 160, 160, subdivisions=4)
    ref = rasterize([(verts[0].numpy(), body.faces.numpy())], K[0].numpy(), 160, 160)
    ours = frags.slot[0].numpy() >= 0
    theirs = ref.covered
    # No holes: every pixel whose centre a triangle covers is covered. Splatting counts a pixel
    # that any surface point rounds to, so the silhouette may grow by at most one pixel.
    assert theirs.sum() > 500 and not (theirs & ~ours).any()
    padded = np.pad(theirs, 1)
    grown = np.zeros_like(theirs)
    for dy in range(3):
        for dx in range(3):
            grown |= padded[dy:dy + 160, dx:dx + 160]
    assert not (ours & ~grown).any()
    both = ours & theirs
    err = np.abs(frags.depth[0].numpy()[both] - ref.depth[both])
    # A splat point lies up to half a face away from the pixel centre; edges may show a nearer surface.
    assert np.median(err) < 0.015 and np.percentile(err, 95) < 0.03


def test_nearer_person_wins_overlap(body):
    """Two identical bodies on the optical axis: only the nearer one is visible where they overlap."""
    eye = torch.eye(3)
    go = torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]).expand(2, 3, 3)
    out = body(go, eye.expand(2, 21, 3, 3))
    verts = out.vertices + torch.tensor([[0.0, 0.3, 5.0], [0.05, 0.3, 3.0]])[:, None]
    K = torch.tensor([[[120.0, 0, 63.5], [0, 120.0, 63.5], [0, 0, 1]]])
    frags = render_fragments(verts, body.faces, torch.zeros(2, dtype=torch.long), torch.tensor([0, 1]), K, 128, 128, 3)
    far_alone = render_fragments(verts[:1], body.faces, torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long),
                                 K, 128, 128, 3).slot[0] >= 0
    visible_far = frags.slot[0] == 0
    assert (far_alone & (frags.slot[0] == 1)).sum() > 0.5 * far_alone.sum()    # mostly hidden
    assert (visible_far & ~far_alone).sum() == 0
    assert (frags.depth[0][frags.slot[0] == 1] < 3.5).all()


def test_front_and_back_look_different(body):
    """A symmetric one-colour mannequin looks the same from behind: the shirt front and the face
    must have colour groups of their own, on front-facing faces only."""
    maker = SyntheticBatchMaker(body, 32, 32, max_people=1, subdivisions=1)
    tri = body.v_template[body.faces]
    normal_z = torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)[:, 2]
    groups = maker.face_part
    assert (groups == 4).sum() > 100 and (groups == 5).sum() > 20
    assert (normal_z[(groups == 4) | (groups == 5)] > 0).all()
    assert (groups[(normal_z < 0) & (maker.face_joint == 9)] == 1).all()    # upper back: shirt colour


def test_only_used_slots_are_splatted_and_nothing_changes(body, batch):
    """The maker splats only the used person slots; splatting every slot (unused ones are parked
    behind the camera) must give the same depth and the same people."""
    B, P = batch.valid.shape
    assert not batch.valid.all()                                        # the fixture has unused slots
    verts = batch.vertices.reshape(B * P, -1, 3)
    image_index = torch.arange(B).repeat_interleave(P)
    slot = torch.arange(P).repeat(B)
    every = render_fragments(verts, body.faces, image_index, slot, batch.K, 160, 160, subdivisions=3)
    content = torch.zeros(B, 160, 160, dtype=torch.bool)
    for b in range(B):
        x0, y0, x1, y1 = batch.content[b].tolist()
        content[b, y0:y1, x0:x1] = True
    assert torch.equal(torch.where(content, every.depth, float("inf")), batch.depth.where(content, float("inf")))
    labelled = torch.where(batch.masks.any(1), batch.masks.float().argmax(1), -1)
    assert torch.equal(torch.where(content, every.slot, -1), labelled)
