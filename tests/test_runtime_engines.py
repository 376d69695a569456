"""Engine backends in the pipeline: ONNX Runtime runs the exported graphs and gives the torch
results; an engine that cannot run (TensorRT here) falls back to torch with a warning."""
import importlib.util

import numpy as np
import pytest

from ros_phmr.assets import write_assets
from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import FramePrompts, PersonPrompt
from ros_phmr.runtime.tensorrt import engine_key

W, H = 320, 200


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("engine_assets")
    write_assets(out, size="tiny", seed=6)
    return out


def _config(assets, **kw):
    return PipelineConfig(profile="prompthmr+multihmr", smplx_model=str(assets), resolution=224,
                          max_people=3, device="cpu",
                          prompthmr_checkpoint=str(assets / "prompthmr" / "checkpoint.ckpt"),
                          multihmr_checkpoint=str(assets / "multihmr" / "multiHMR_tiny.pt"), **kw)


def test_engine_key_names_model_gpu_and_version():
    key = engine_key("ab" * 32, "NVIDIA Jetson AGX Orin", "10.3.0.30", "fp16")
    assert key == "abababababababab-nvidia-jetson-agx-orin-trt10.3.0.30-fp16"
    assert engine_key("ab" * 32, "NVIDIA H200", "10.3.0.30") != key


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs onnxruntime")
def test_onnx_backend_matches_torch(assets, tmp_path):
    prompts = FramePrompts(people=(PersonPrompt(person_id=4, box=np.array([30, 20, 150, 190], np.float32)),))
    frame = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
    K = default_intrinsics(W, H)
    torch_people = Pipeline(_config(assets)).process(frame, K, prompts).people
    onnx_pipe = Pipeline(_config(assets, backend="onnx", engine_dir=str(tmp_path)))
    assert onnx_pipe.backend == "onnx" and len(list(tmp_path.glob("*/*.onnx"))) == 3
    onnx_people = onnx_pipe.process(frame, K, prompts).people
    assert [p.track_id for p in onnx_people] == [p.track_id for p in torch_people]
    for a, b in zip(onnx_people, torch_people):
        for name in ("transl", "betas", "body_pose", "joints_3d", "vertices"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-3, err_msg=name)
    # a second pipeline reuses the exported graphs
    again = Pipeline(_config(assets, backend="onnx", engine_dir=str(tmp_path)))
    assert again.backend == "onnx" and len(list(tmp_path.glob("*/*.onnx"))) == 3


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_without_tensorrt_falls_back_to_torch(assets):
    with pytest.warns(RuntimeWarning, match="tensorrt"):
        pipe = Pipeline(_config(assets, backend="tensorrt"))
    assert pipe.backend == "torch"


def test_unknown_backend_is_a_clear_error(assets):
    with pytest.raises(ValueError, match="backend"):
        _config(assets, backend="openvino")
