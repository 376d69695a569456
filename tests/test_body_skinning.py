"""BodyModel against the reference smplx 0.1.28 implementation, plus its own API contract."""
import pytest
import smplx
import torch
from smplx.lbs import batch_rodrigues

from ros_phmr.body import BodyModel, create_smplx_layer, pose_from_axis_angle, write_synthetic_smplx

# PromptHMR's OpenPose BODY_25 map into smplx's 127 joints.
OPENPOSE25 = [55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("smplx_for_skinning")
    write_synthetic_smplx(root, seed=3)
    return root


@pytest.fixture(scope="module")
def body(model_dir):
    return BodyModel.from_file(model_dir, num_betas=10, num_expression=10)


@pytest.fixture(scope="module")
def reference(model_dir):
    return create_smplx_layer(model_dir, num_betas=10, num_expression_coeffs=10)


def random_inputs(count, seed, scale=0.5):
    """Random rotations (axis-angle of ~``scale`` rad per axis), betas and expression ~ N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    aa = lambda *shape: torch.randn(*shape, generator=g) * scale  # noqa: E731
    rot = lambda *shape: batch_rodrigues(aa(*shape, 3).reshape(-1, 3)).reshape(*shape, 3, 3)  # noqa: E731
    return dict(global_orient=rot(count), body_pose=rot(count, 21), left_hand_pose=rot(count, 15),
                right_hand_pose=rot(count, 15), jaw_pose=rot(count), leye_pose=rot(count),
                reye_pose=rot(count), betas=torch.randn(count, 10, generator=g),
                expression=torch.randn(count, 10, generator=g), transl=torch.randn(count, 3, generator=g))


@pytest.mark.parametrize("count", [1, 16])
def test_matches_smplx_layer(body, reference, count):
    inputs = random_inputs(count, seed=count)
    with torch.no_grad():
        ours = body(**inputs)
        ref = reference(**inputs)
    assert ours.vertices.shape == (count, 10475, 3) and ours.joints.shape == (count, 127, 3)
    assert (ours.vertices - ref.vertices).abs().max() <= 1e-5
    assert (ours.joints - ref.joints).abs().max() <= 1e-5


def test_defaults_match_smplx_layer_defaults(body, reference):
    inputs = random_inputs(2, seed=7)
    minimal = {k: inputs[k] for k in ("global_orient", "body_pose", "betas")}
    with torch.no_grad():
        ours, ref = body(**minimal), reference(**minimal)
    assert (ours.vertices - ref.vertices).abs().max() <= 1e-5
    assert (ours.joints - ref.joints).abs().max() <= 1e-5


def test_legacy_20_column_shape_space_matches_smplx(tmp_path):
    write_synthetic_smplx(tmp_path, seed=0, shapedirs_columns=20)
    body = BodyModel.from_file(tmp_path)
    reference = create_smplx_layer(tmp_path, num_betas=10, num_expression_coeffs=10)
    inputs = random_inputs(3, seed=11)
    with torch.no_grad():
        assert (body(**inputs).vertices - reference(**inputs).vertices).abs().max() <= 1e-5
    with pytest.raises(ValueError, match="num_betas must be in \\[0, 10\\]"):
        BodyModel.from_file(tmp_path, num_betas=16)


def test_mean_hands_match_smplx_mean_hand_pose(body, model_dir):
    """Zero axis-angle hands in smplx with flat_hand_mean=False == our hands_mean rotations."""
    reference = smplx.create(str(model_dir), model_type="smplx", use_pca=False, flat_hand_mean=False,
                             num_betas=10, num_expression_coeffs=10)
    eye = torch.eye(3).expand(1, 22, 3, 3)
    with torch.no_grad():
        ours = body(eye[:, 0], eye[:, 1:], torch.zeros(1, 10), **body.mean_hands(1))
        ref = reference()
    assert body.hands_mean_left.shape == (15, 3, 3)
    assert (ours.vertices - ref.vertices).abs().max() <= 1e-5


def test_batch_is_the_same_as_one_by_one(body):
    inputs = random_inputs(4, seed=5)
    with torch.no_grad():
        batched = body(**inputs).vertices
        single = torch.cat([body(**{k: v[i:i + 1] for k, v in inputs.items()}).vertices for i in range(4)])
    assert (batched - single).abs().max() <= 1e-5


def test_outputs_views_and_static_data(body, reference):
    with torch.no_grad():
        out = body(**random_inputs(2, seed=9))
    assert torch.equal(out.joints55, out.joints[:, :55])
    assert torch.equal(out.openpose25, out.joints[:, OPENPOSE25])
    assert torch.equal(body.faces, reference.faces_tensor)
    assert body.faces.dtype == torch.int64 and body.faces.shape == (20908, 3)
    assert body.parents == reference.parents.tolist()


def test_axis_angle_helper_accepts_flat_and_shaped_poses(body):
    g = torch.Generator().manual_seed(0)
    root, pose, hand = torch.randn(2, 3, generator=g), torch.randn(2, 63, generator=g), torch.randn(2, 45, generator=g)
    kwargs = pose_from_axis_angle(root, pose.view(2, 21, 3), left_hand_pose=hand)
    flat = pose_from_axis_angle(root, pose, left_hand_pose=hand.view(2, 15, 3))
    torch.testing.assert_close(kwargs["body_pose"], flat["body_pose"])
    torch.testing.assert_close(kwargs["body_pose"], batch_rodrigues(pose.view(-1, 3)).view(2, 21, 3, 3),
                               atol=1e-6, rtol=0)
    assert kwargs["global_orient"].shape == (2, 3, 3) and "right_hand_pose" not in kwargs
    body(**kwargs)
    with pytest.raises(ValueError, match="body_pose"):
        pose_from_axis_angle(root, torch.zeros(2, 60))


def test_bad_inputs_are_named(body):
    inputs = random_inputs(2, seed=1)
    with pytest.raises(ValueError, match="body_pose must have shape \\(2, 21, 3, 3\\)"):
        body(**{**inputs, "body_pose": inputs["body_pose"][:, :20]})
    with pytest.raises(ValueError, match="betas must have shape \\(2, 10\\)"):
        body(**{**inputs, "betas": torch.zeros(2, 16)})
    with pytest.raises(ValueError, match="jaw_pose"):
        body(**{**inputs, "jaw_pose": torch.zeros(3, 3, 3)})
    with pytest.raises(ValueError, match="float64"):
        body(**{**inputs, "transl": inputs["transl"].double()})



def test_shape_space_limits_are_checked(model_dir):
    with pytest.raises(ValueError, match="num_expression must be in \\[0, 100\\]"):
        BodyModel.from_file(model_dir, num_expression=101)


def test_shape_and_expression_directions_mean_what_they_say(body):
    eye = torch.eye(3).expand(4, 22, 3, 3)
    betas = torch.zeros(4, 10)
    betas[1, 0] = 1.0          # taller
    betas[2, 1] = 1.0          # broader
    expression = torch.zeros(4, 10)
    expression[3, 0] = 2.0     # mouth open
    with torch.no_grad():
        out = body(eye[:, 0], eye[:, 1:], betas, expression=expression)
    v = out.vertices
    height = v[..., 1].max(1).values - v[..., 1].min(1).values
    assert 1.03 < height[1] / height[0] < 1.10
    waist = (v[..., 1] > -0.3) & (v[..., 1] < -0.2)
    girth = lambda i: v[i][waist[i]][:, [0, 2]].norm(dim=-1).mean()  # noqa: E731
    assert girth(2) > 1.05 * girth(0)
    lower_lip, upper_lip = out.joints[:, 55 + 21 + 40], out.joints[:, 55 + 21 + 34]   # iBUG 57 and 51
    assert lower_lip[3, 1] < lower_lip[0, 1] - 0.005
    assert (upper_lip[3] - upper_lip[0]).abs().max() < 0.002


def test_gradients_reach_all_inputs(body):
    inputs = {k: v.clone().requires_grad_(True) for k, v in random_inputs(2, seed=4).items()}
    out = body(**inputs)
    (out.vertices.square().mean() + out.joints.square().mean()).backward()
    for name, value in inputs.items():
        assert value.grad is not None and torch.isfinite(value.grad).all(), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_and_replays_in_a_cuda_graph(body, model_dir):
    cuda_body = BodyModel.from_file(model_dir).to("cuda")
    inputs = random_inputs(8, seed=2)
    cuda_inputs = {k: v.cuda() for k, v in inputs.items()}
    with torch.no_grad():
        assert (cuda_body(**cuda_inputs).vertices.cpu() - body(**inputs).vertices).abs().max() <= 1e-5
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):            # warm up outside the default stream, as capture needs
            for _ in range(2):
                cuda_body(**cuda_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            captured = cuda_body(**cuda_inputs)
        for key, value in random_inputs(8, seed=12).items():
            cuda_inputs[key].copy_(value)
        graph.replay()
        torch.cuda.synchronize()
        eager = cuda_body(**cuda_inputs)
    assert (captured.vertices - eager.vertices).abs().max() <= 1e-6
    assert (captured.joints - eager.joints).abs().max() <= 1e-6
