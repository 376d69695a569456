"""TensorRT engines from the exported ONNX graphs: fp16 build with a timing cache, an on-disk
cache keyed by model hash + GPU + TensorRT version, and a runner over torch CUDA tensors.

Engines are specific to the GPU and the TensorRT version that built them, so the key holds
both: an engine built on one Orin is reused there and rebuilt anywhere else. Written for real
use where ``tensorrt`` (TensorRT 10 Python API) is importable; elsewhere its tests skip.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

import torch

from ros_phmr.runtime.export import file_hash


def engine_key(onnx_sha256: str, gpu_name: str, trt_version: str, precision: str = "fp16") -> str:
    """Cache key of an engine: what it was built from, for which GPU, by which TensorRT."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower() or "gpu"
    version = re.sub(r"[^0-9.]+", "", trt_version) or "unknown"
    return f"{onnx_sha256[:16]}-{gpu}-trt{version}-{precision}"


def engine_path(onnx_path: Path, engine_dir: Path, gpu_name: str, trt_version: str,
                precision: str = "fp16") -> Path:
    key = engine_key(file_hash(onnx_path), gpu_name, trt_version, precision)
    return Path(engine_dir) / f"{Path(onnx_path).stem}-{key}.engine"


def build_engine(onnx_path: Path, engine_dir: Path, fp16: bool = True, workspace_gb: float = 4.0) -> Path:
    """Build (or reuse from the cache) the engine of an ONNX graph; returns its path.

    The timing cache (``engine_dir/timing.cache``) is shared by all builds on this GPU and
    makes rebuilds fast. RuntimeError, with the parser's messages, when the graph cannot be built.
    """
    import tensorrt as trt

    engine_dir = Path(engine_dir)
    engine_dir.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no-gpu"
    path = engine_path(Path(onnx_path), engine_dir, gpu, trt.__version__, "fp16" if fp16 else "fp32")
    if path.is_file():
        return path
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    cache_file = engine_dir / "timing.cache"
    cache = config.create_timing_cache(cache_file.read_bytes() if cache_file.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    cache_file.write_bytes(memoryview(config.get_timing_cache().serialize()))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(memoryview(serialized))
    tmp.replace(path)
    return path


class TensorRTRunner:
    """One engine with static input/output tensors on the GPU; call with torch tensors."""

    def __init__(self, path: Path, device: torch.device):
        import tensorrt as trt

        self.device = device
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"could not load TensorRT engine {path}")
        self.context = self.engine.create_execution_context()
        self.inputs: Dict[str, torch.Tensor] = {}
        self.outputs: Dict[str, torch.Tensor] = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            dtype = _TORCH_DTYPES[self.engine.get_tensor_dtype(name)]
            buffer = torch.empty(shape, dtype=dtype, device=device)
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs)[name] = buffer
            self.context.set_tensor_address(name, buffer.data_ptr())

    def __call__(self, **tensors: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Copy the inputs into the engine's buffers, enqueue on the current stream; returns the
        (static) output tensors, valid once the stream reaches this point."""
        for name, value in tensors.items():
            if name in self.inputs:
                self.inputs[name].copy_(value.reshape(self.inputs[name].shape))
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        return self.outputs


def _trt_dtypes() -> dict:
    try:
        import tensorrt as trt
    except ImportError:
        return {}
    return {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
            trt.int64: torch.int64, trt.bool: torch.bool, trt.bfloat16: torch.bfloat16}


_TORCH_DTYPES = _trt_dtypes()
