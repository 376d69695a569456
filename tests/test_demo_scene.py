"""Synthetic scene: deterministic, physically sensible (upright people standing on the floor at
2.5-6 m), and its ground truth is self-consistent (axis-angle vs matrices, joints in boxes,
masks in boxes), checked with independent computations (scipy rotations, plain projection)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ros_phmr.body import BodyModel, write_synthetic_smplx
from ros_phmr.synthetic import CameraRig, SceneConfig, SyntheticScene
from ros_phmr.synthetic.motion import walking_pose, waving_pose

CONFIG = SceneConfig(width=160, height=120)


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    path = write_synthetic_smplx(tmp_path_factory.mktemp("smplx"), seed=0)
    return BodyModel.from_file(path, num_betas=10, num_expression=10)


@pytest.fixture(scope="module")
def scene(body):
    return SyntheticScene(body, CONFIG, seed=3)


@pytest.fixture(scope="module")
def frames(scene):
    # Spread over a few seconds of motion: walking, turning and waving phases differ.
    return [scene.frame(i) for i in (0, 17, 45, 90)]


def _canonical_joints(body, pose):
    """Joints (55, 3) of the mean shape in SMPL-X's canonical frame (x left, y up, z forward)."""
    import torch

    with torch.no_grad():
        out = body(global_orient=torch.eye(3)[None], body_pose=torch.as_tensor(pose, dtype=torch.float32)[None],
                   betas=torch.zeros(1, 10))
    return out.joints[0, :55].numpy()


def test_motion_angles_move_limbs_the_intended_way(body):
    # Joint ids (smplx order): 7/8 ankles, 15 head, 16/17 shoulders, 20/21 wrists.
    stride = _canonical_joints(body, walking_pose(np.pi / 2))         # left leg forward, right arm forward
    assert stride[7, 2] > stride[8, 2] + 0.2                           # left ankle ahead of the right
    assert stride[21, 2] > stride[20, 2] + 0.1                         # right wrist ahead of the left
    assert (stride[[20, 21], 1] < stride[[16, 17], 1] - 0.3).all()     # arms hang down
    wave = _canonical_joints(body, waving_pose(0.0))
    assert wave[21, 1] > wave[15, 1]                                   # right hand above the head
    assert wave[20, 1] < wave[16, 1] - 0.3                             # left arm down
    assert abs(wave[7, 2] - wave[8, 2]) < 0.05                         # standing


def test_same_seed_same_frames_other_seed_differs(body, scene):
    again = SyntheticScene(body, CONFIG, seed=3).frame(17)
    first = scene.frame(17)
    for name in ("image", "vertices", "joints", "betas", "global_orient", "body_pose", "transl", "masks"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    other = SyntheticScene(body, CONFIG, seed=4).frame(17)
    assert not np.array_equal(first.betas, other.betas)
    assert not np.allclose(first.vertices, other.vertices)


def test_random_access_matches_sequential(scene):
    sequential = list(scene.frames(3, start=5))
    assert [f.index for f in sequential] == [5, 6, 7]
    assert np.array_equal(sequential[2].vertices, scene.frame(7).vertices)
    assert sequential[1].stamp_ns - sequential[0].stamp_ns == round(1e9 / CONFIG.fps)


def test_shapes(frames, body):
    f = frames[0]
    P = CONFIG.num_people
    assert f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8
    assert f.vertices.shape == (P, 10475, 3) and f.joints.shape == (P, 127, 3)
    assert f.joints2d.shape == (P, 127, 2) and f.boxes.shape == (P, 4)
    assert f.global_orient.shape == (P, 3, 3) and f.body_pose.shape == (P, 21, 3, 3)
    assert f.global_orient_aa.shape == (P, 3) and f.body_pose_aa.shape == (P, 21, 3)
    assert f.betas.shape == (P, 10) and f.transl.shape == (P, 3)
    assert f.masks.shape == (P, 120, 160) and f.masks.dtype == bool
    assert np.array_equal(f.body_ids, np.arange(P))


def test_people_upright_on_the_floor_at_plausible_distances(frames, scene):
    rig = CONFIG.rig
    up = rig.up_in_camera
    for f in frames:
        height = f.vertices @ up + rig.height                       # (P, V) world height
        assert np.allclose(height.min(axis=1), 0.0, atol=1e-4)     # feet on the floor
        stature = height.max(axis=1)
        assert ((stature > 1.3) & (stature < 2.1)).all(), stature
        joints_h = f.joints @ up + rig.height
        assert (joints_h[:, 15] > joints_h[:, 0]).all()            # head above pelvis
        assert (joints_h[:, 0] > joints_h[:, 7]).all() and (joints_h[:, 0] > joints_h[:, 8]).all()
        distance = np.linalg.norm(f.joints[:, 0], axis=1)
        assert ((distance > 2.5) & (distance < 6.5)).all(), distance
        # Canonical y (the body's up axis) points along world up: everybody stands upright.
        assert np.allclose(f.global_orient[:, :, 1], up, atol=1e-5)


def test_level_camera_person_facing_it_is_rotated_180_about_x(body):
    # With a level camera the optical frame's up is -y; a body facing the camera (heading pi) must
    # have canonical z (front) along -z of the camera: R = rotation of 180 deg about x.
    level = SceneConfig(width=160, height=120, rig=CameraRig(height=1.4, pitch_deg=0.0), num_people=3)
    scene = SyntheticScene(body, level, seed=0)
    f = scene.frame(0)                                             # t = 0: the waver's turn offset is 0
    heading = scene.scripts[2].mean_heading                        # about pi (jittered by the seed)
    expected = Rotation.from_euler("x", 180, degrees=True).as_matrix() @ \
        Rotation.from_euler("y", np.degrees(heading - np.pi), degrees=True).as_matrix()
    assert np.allclose(f.global_orient[2], expected, atol=1e-5)


def test_axis_angle_matches_rotation_matrices(frames):
    for f in frames:
        go = Rotation.from_rotvec(f.global_orient_aa.astype(np.float64)).as_matrix()
        bp = Rotation.from_rotvec(f.body_pose_aa.reshape(-1, 3).astype(np.float64)).as_matrix()
        assert np.allclose(go, f.global_orient, atol=1e-5)
        assert np.allclose(bp.reshape(f.body_pose.shape), f.body_pose, atol=1e-5)


def test_projected_joints_and_masks_lie_in_their_boxes(frames):
    K = CONFIG.K
    for f in frames:
        # Independent pinhole projection.
        uv = f.joints[..., :2] / f.joints[..., 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
        assert np.allclose(uv, f.joints2d, atol=1e-3)
        in_image = (uv[..., 0] >= 0) & (uv[..., 0] <= 160) & (uv[..., 1] >= 0) & (uv[..., 1] <= 120)
        x1, y1, x2, y2 = [f.boxes[:, None, i] for i in range(4)]
        inside = (uv[..., 0] >= x1 - 1e-3) & (uv[..., 0] <= x2 + 1e-3) & (uv[..., 1] >= y1 - 1e-3) & (uv[..., 1] <= y2 + 1e-3)
        assert inside[in_image].all()
        assert (f.boxes[:, 0] >= 0).all() and (f.boxes[:, 2] <= 160).all()
        for p, mask in enumerate(f.masks):
            ys, xs = np.nonzero(mask)
            if len(xs):
                assert xs.min() >= f.boxes[p, 0] - 1 and xs.max() <= f.boxes[p, 2] + 1
                assert ys.min() >= f.boxes[p, 1] - 1 and ys.max() <= f.boxes[p, 3] + 1
        assert not (f.masks.sum(axis=0) > 1).any()                 # instance masks are disjoint
        assert f.masks.any(axis=(1, 2)).sum() >= 2                  # people are visible


def test_people_are_rendered_over_the_room(frames, scene):
    f = frames[1]
    covered = f.masks.any(axis=0)
    assert np.array_equal(f.image[~covered], scene.room[~covered])
    assert np.isfinite(f.depth[covered]).all() and np.isinf(f.depth[~covered]).all()
    assert (np.abs(f.image[covered].astype(int) - scene.room[covered].astype(int)).sum(axis=1) > 0).mean() > 0.9


def test_bad_configuration_is_rejected(scene):
    with pytest.raises(ValueError, match="num_people"):
        SceneConfig(num_people=0)
    with pytest.raises(ValueError, match="hfov"):
        SceneConfig(hfov_deg=200)
    with pytest.raises(ValueError, match="at least"):
        SceneConfig(width=4)
    with pytest.raises(ValueError, match="index"):
        scene.frame(-1)
