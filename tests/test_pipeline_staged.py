"""The staged path (the CUDA backend's stage order, static buffers, padded people buckets and
packed read-backs) run eagerly on the CPU must equal the plain eager pipeline."""
import numpy as np
import pytest

from ros_phmr.assets import write_assets
from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import FramePrompts, PersonPrompt

W, H = 320, 200


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("staged_assets")
    write_assets(out, size="tiny", seed=4)
    return out


def _prompts(count):
    return FramePrompts(people=tuple(
        PersonPrompt(person_id=20 + i, box=np.array([10 + 70 * i, 20, 80 + 70 * i, 190], np.float32))
        for i in range(count)))


@pytest.mark.parametrize("profile,threshold", [("prompthmr+multihmr", 0.0), ("multihmr", 0.0),
                                               ("multihmr", 0.69)])
def test_staged_path_equals_the_eager_path(assets, profile, threshold):
    """Threshold 0: every slot is a person; 0.69: some slots of these seeded weights (scores
    0.66-0.75) are not, and the staged read-back must drop exactly those."""
    pipe = Pipeline(PipelineConfig(
        profile=profile, smplx_model=str(assets), resolution=224, max_people=5, device="cpu",
        detection_threshold=threshold, prompthmr_checkpoint=str(assets / "prompthmr" / "checkpoint.ckpt"),
        multihmr_checkpoint=str(assets / "multihmr" / "multiHMR_tiny.pt")))
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    K = default_intrinsics(W, H)
    prompts = None if profile == "multihmr" else _prompts(2)
    eager = pipe.process(frame, K, prompts)
    pipe._stages = pipe._make_stages()
    staged = pipe.process(frame, K, prompts)
    assert len(staged.people) == len(eager.people)
    assert (len(staged.people) == 5) == (threshold == 0.0) and staged.people
    for a, b in zip(staged.people, eager.people):
        assert (a.track_id, a.prompt_kinds) == (b.track_id, b.prompt_kinds)
        for name in ("box_xyxy", "transl", "joints_3d", "joints_2d", "vertices", "betas", "body_pose",
                     "left_hand_pose", "jaw_pose", "expression"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-4, err_msg=name)
    expected = {"upload", "preprocess", "detector", "outputs", "total"}
    if profile != "multihmr":
        expected |= {"backbone", "prompt_fusion", "decoder", "body_model"}
    assert expected <= set(staged.timings)


def test_staged_upload_takes_read_only_and_flipped_frames(assets):
    """Frames from ROS messages are read-only views; BGR->RGB flips have negative strides. The
    staged upload copies both and gives what a plain contiguous frame gives."""
    pipe = Pipeline(PipelineConfig(
        profile="prompthmr", smplx_model=str(assets), resolution=224, max_people=3, device="cpu",
        prompthmr_checkpoint=str(assets / "prompthmr" / "checkpoint.ckpt")))
    pipe._stages = pipe._make_stages()
    rng = np.random.default_rng(2)
    bgr = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    read_only = np.frombuffer(rgb.tobytes(), dtype=np.uint8).reshape(H, W, 3)
    K = default_intrinsics(W, H)
    want = pipe.process(rgb, K, _prompts(2)).people
    for frame in (read_only, bgr[..., ::-1]):
        got = pipe.process(frame, K, _prompts(2)).people
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.vertices, b.vertices)
    other = pipe.process(bgr, K, _prompts(2)).people  # the same frame in the other channel order
    assert np.abs(other[0].vertices - want[0].vertices).max() > 1e-6


def test_warmup_visits_every_people_bucket(assets):
    pipe = Pipeline(PipelineConfig(
        profile="prompthmr", smplx_model=str(assets), resolution=224, max_people=3, device="cpu",
        prompthmr_checkpoint=str(assets / "prompthmr" / "checkpoint.ckpt")))
    pipe._stages = pipe._make_stages()
    seen = []
    decode = pipe._stages.decode
    pipe._stages.decode = lambda boxes: seen.append(len(boxes)) or decode(boxes)
    assert pipe.warmup(W, H) > 0
    assert seen == [1, 2, 3]
