"""Which engine backends (onnxruntime, TensorRT) can run here; the pipeline falls back to torch."""
import importlib.util

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
