"""Engine backends of the pipeline: which can run here, and their runners.

``onnx`` runs the exported graphs with onnxruntime, ``tensorrt`` with TensorRT engines built
from them; both are loaded by :func:`prepare_engines` and called by the staged pipeline path
like the torch modules they replace. SMPL-X skinning always stays in torch (fp32). When a
backend cannot run, the pipeline warns and falls back to torch.
"""
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Dict

import torch


def engine_backend_available(backend: str, device: torch.device) -> str:
    """'' when ``backend`` can run on ``device``, else the reason it cannot."""
    if backend == "tensorrt":
        if device.type != "cuda":
            return "TensorRT needs a CUDA device"
        if importlib.util.find_spec("tensorrt") is None:
            return "the tensorrt Python package is not installed"
        return ""
    if backend == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            return "onnxruntime is not installed"
        return ""
    return f"unknown backend {backend!r}"


class OnnxRuntimeRunner:
    """An exported graph run by onnxruntime (CUDA provider when present); torch tensors in/out."""

    def __init__(self, path: Path, device: torch.device):
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.device = device
        self.session = ort.InferenceSession(str(path), providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, **tensors: torch.Tensor) -> Dict[str, torch.Tensor]:
        feeds = {k: tensors[k].detach().float().cpu().numpy() for k in self.input_names}
        results = self.session.run(self.output_names, feeds)
        return {k: torch.from_numpy(v).to(self.device) for k, v in zip(self.output_names, results)}


def _export_key(pipe) -> str:
    """What the exported graphs depend on: checkpoints (path, size, mtime) and static shapes."""
    config = pipe.config
    parts = [config.profile, str(pipe.decoder_size), str(config.max_people), repr(config.detection_threshold),
             torch.__version__]
    for path in (config.prompthmr_checkpoint, config.multihmr_checkpoint):
        if path:
            stat = Path(path).stat()
            parts.append(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def default_engine_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ros_phmr" / "engines"


def prepare_engines(pipe, backend: str, engine_dir: str = "") -> Dict[str, object]:
    """Export the pipeline's graphs once (cached by ``_export_key``) and load them for ``backend``.

    Call on the fp32 models, before any low-precision cast. Returns graph name -> runner.
    """
    from ros_phmr.runtime.export import export_pipeline_graphs

    folder = Path(engine_dir or default_engine_dir()) / _export_key(pipe)
    manifest = folder / "graphs.json"
    if manifest.is_file():
        graphs = json.loads(manifest.read_text())
    else:
        graphs = export_pipeline_graphs(pipe, folder, check=False)
        manifest.write_text(json.dumps(graphs, indent=1))
    if backend == "tensorrt":
        from ros_phmr.runtime.tensorrt import TensorRTRunner, build_engine

        return {name: TensorRTRunner(build_engine(Path(g["path"]), folder / "engines"), pipe.device)
                for name, g in graphs.items()}
    return {name: OnnxRuntimeRunner(Path(g["path"]), pipe.device) for name, g in graphs.items()}
