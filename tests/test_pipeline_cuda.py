"""The CUDA path (captured stage graphs, pinned uploads, packed read-backs) against the eager CPU
pipeline on tiny random-weight assets. Runs where CUDA is available (the GPU machine)."""
import importlib.util

import numpy as np
import pytest
import torch

from ros_phmr.assets import write_assets
from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import FramePrompts, PersonPrompt

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
W, H = 640, 360


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("cuda_pipeline_assets")
    write_assets(out, size="tiny", seed=3)
    return out


def _pipe(assets, profile, device, **kw):
    return Pipeline(PipelineConfig(
        profile=profile, smplx_model=str(assets), resolution=224, max_people=6, device=device,
        prompthmr_checkpoint=str(assets / "prompthmr" / "checkpoint.ckpt"),
        multihmr_checkpoint=str(assets / "multihmr" / "multiHMR_tiny.pt"), **kw))


def _frames():
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(2)]


def _prompts(count):
    boxes = [np.array([40 + 90 * i, 30 + 10 * i, 120 + 90 * i, 330], np.float32) for i in range(count)]
    return FramePrompts(people=tuple(PersonPrompt(person_id=10 + i, box=b) for i, b in enumerate(boxes)))


def _assert_same_people(got, want, atol):
    assert [p.track_id for p in got] == [p.track_id for p in want]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.box_xyxy, b.box_xyxy, atol=0.05)
        for name in ("transl", "joints_3d", "vertices", "betas", "global_orient", "body_pose"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)
        np.testing.assert_allclose(a.joints_2d, b.joints_2d, atol=100 * atol)


@pytest.mark.parametrize("profile", ["prompthmr+multihmr", "prompthmr", "multihmr"])
@pytest.mark.parametrize("sync", [True, False])
def test_graph_replays_match_the_eager_cpu_pipeline(assets, profile, sync):
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    cpu = _pipe(assets, profile, "cpu", detection_threshold=0.0)
    gpu = _pipe(assets, profile, "cuda", precision="fp32", sync_stages=sync, detection_threshold=0.0)
    K = default_intrinsics(W, H)
    # frames and people counts change between calls: static buffers must be refilled each time
    for frame, count in zip(_frames() * 2, (2, 3, 1, 2)):
        prompts = None if profile == "multihmr" else _prompts(count)
        want = cpu.process(frame, K, prompts).people
        result = gpu.process(frame, K, prompts)
        assert want, "the comparison needs people"
        _assert_same_people(result.people, want, atol=2e-3)
        assert "total" in result.timings
        assert ("decoder" in result.timings) == (sync and profile != "multihmr")
    assert len(gpu._stages.graphs) >= (2 if profile == "multihmr" else 4)
    # both models, separate backbones: the detector replays beside PromptHMR's backbone
    assert gpu._stages.detector_beside == (profile == "prompthmr+multihmr")


@pytest.mark.parametrize("profile", ["prompthmr+multihmr", "multihmr"])
def test_compiled_pipeline_matches_the_eager_cpu_pipeline(assets, profile):
    """``compile``: backbones (class key merged), preprocessing, detector heads, decoder and
    SMPL-X through torch.compile, then captured; people counts on both sides of the decoder's
    fold threshold (6)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    cpu = _pipe(assets, profile, "cpu", detection_threshold=0.0)
    gpu = _pipe(assets, profile, "cuda", precision="fp32", compile=True, sync_stages=False,
                detection_threshold=0.0)
    K = default_intrinsics(W, H)
    for frame, count in zip(_frames() * 2, (2, 6, 3, 1)):
        prompts = None if profile == "multihmr" else _prompts(count)
        want = cpu.process(frame, K, prompts).people
        assert want, "the comparison needs people"
        _assert_same_people(gpu.process(frame, K, prompts).people, want, atol=2e-3)


def test_ensure_warm_captures_every_bucket_once_per_frame_size(assets):
    gpu = _pipe(assets, "prompthmr", "cuda", precision="bf16")
    heard = []
    assert gpu.ensure_warm(W, H, log=heard.append) > 0
    buckets = len(gpu._stages.buckets)
    assert len(gpu._stages.graphs) == 2 + 2 * buckets  # preprocess, encoder; decoder and body per bucket
    assert len(heard) == 1 and f"{W}x{H}" in heard[0]
    assert gpu.ensure_warm(W, H, log=heard.append) is None and len(heard) == 1
    assert gpu.ensure_warm(W // 2, H // 2) > 0  # another size: its own graphs


def test_bf16_runs_with_fp32_skinning(assets):
    gpu = _pipe(assets, "prompthmr", "cuda", precision="bf16")
    people = gpu.process(_frames()[0], default_intrinsics(W, H), _prompts(2)).people
    assert len(people) == 2
    for p in people:
        assert np.isfinite(p.vertices).all() and np.isfinite(p.joints_2d).all()
    assert gpu.body.v_template.dtype == torch.float32


@pytest.mark.skipif(not any(importlib.util.find_spec(m) for m in ("instant_clip_tokenizer", "open_clip")),
                    reason="text prompts need a CLIP tokenizer package")
def test_text_frames_fall_back_to_the_eager_path(assets):
    gpu = _pipe(assets, "prompthmr", "cuda", precision="bf16")
    text = FramePrompts(people=(PersonPrompt(person_id=10, box=np.array([40, 30, 120, 330], np.float32),
                                             text="a person waving"),))
    (person,) = gpu.process(_frames()[0], default_intrinsics(W, H), text).people
    assert np.isfinite(person.vertices).all()
