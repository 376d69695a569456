"""Inference backends of the pipeline: torch (mixed precision, CUDA graphs), ONNX export with an
onnxruntime check, and TensorRT engines where ``tensorrt`` is importable."""

BACKENDS = ("torch", "onnx", "tensorrt")
