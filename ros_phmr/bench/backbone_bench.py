"""DINOv2 backbone alone: latency of one forward at batch 1 (``ros-phmr bench --backbone``).

The backbone is most of a frame's arithmetic (ViT-L/896: 4.1 TFLOP), so it is timed on its own
against the roofline: FLOPs (performance.md's formula, attention included) over the measured
time gives the achieved rate. Timed with CUDA events around captured-graph replays (or eager
calls), warm-up excluded, several input buffers rotated so the input is not cache-resident.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch

from ros_phmr.model.backbone import DinoV2, arch_dims
from ros_phmr.runtime.graphs import CapturedGraph
from ros_phmr.runtime.precision import amp_dtype, cast_matmul_weights_, fold_layer_scale_

SDPA_BACKENDS = ("default", "flash", "cudnn", "efficient")


def vit_flops(arch: str, resolution: int) -> float:
    """Forward FLOPs at batch 1: L (24 N d^2 + 4 N^2 d) + 2 P 588 d (patch embedding)."""
    dims = arch_dims(arch)
    patches = (resolution // 14) ** 2
    tokens = patches + 1
    d = dims.embed_dim
    return dims.depth * (24 * tokens * d * d + 4 * tokens * tokens * d) + 2 * patches * 588 * d


def _sdpa_context(backend: str):
    if backend == "default":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    chosen = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
              "efficient": SDPBackend.EFFICIENT_ATTENTION}[backend]
    return sdpa_kernel([chosen])


def bench_backbone(arch: str = "vit_large", resolution: int = 896, precision: str = "bf16",
                   graphs: bool = True, compile: bool = False, sdpa: str = "default",
                   iters: int = 50, warmup: int = 5, device: str = "cuda", seed: int = 0,
                   fold: bool = False, residual: str = "fp32", gelu_epilogue: bool = True) -> dict:
    """-> {"p50_ms", "p99_ms", "tflops", ...} for one configuration.

    ``fold``: LayerScale folded into the projections; ``residual``: "fp32" (autocast: norms and
    the residual stream in float32) or "low" (the whole module in the low-precision dtype);
    ``gelu_epilogue``: GELU in fc1's matmul, as the pipeline runs it (half precision only)."""
    if sdpa not in SDPA_BACKENDS:
        raise ValueError(f"sdpa must be one of {SDPA_BACKENDS}, got {sdpa!r}")
    dev = torch.device(device)
    torch.manual_seed(seed)
    model = DinoV2(arch).fill_random_(torch.Generator().manual_seed(seed)).to(dev).eval()
    amp = precision != "fp32"
    if fold:
        fold_layer_scale_(model)
    model.fuse_gelu_epilogue_(gelu_epilogue and amp)
    if amp:
        cast_matmul_weights_(model, amp_dtype(precision))
        if residual == "low":
            model.to(amp_dtype(precision))
    dtype = amp_dtype(precision) if amp else torch.float32
    in_dtype = amp_dtype(precision) if amp and residual == "low" else torch.float32
    inputs = [torch.randn(1, 3, resolution, resolution, device=dev, dtype=in_dtype) for _ in range(4)]
    static = inputs[0].clone()
    forward = torch.compile(model.merge_class_key_()) if compile else model

    def run():
        with torch.autocast(dev.type, dtype=dtype, enabled=amp, cache_enabled=False), _sdpa_context(sdpa):
            return forward(static)

    setup_start = time.perf_counter()
    with torch.inference_mode():
        graph = CapturedGraph(run) if graphs else None
        call = graph.replay if graphs else run
        for _ in range(warmup):
            call()
        torch.cuda.synchronize(dev)
        setup_s = time.perf_counter() - setup_start
        times = []
        for i in range(iters):
            static.copy_(inputs[i % len(inputs)])
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            call()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    ms = np.asarray(times)
    p50 = float(np.percentile(ms, 50))
    return {"arch": arch, "resolution": resolution, "precision": precision, "graphs": graphs,
            "compile": compile, "sdpa": sdpa, "fold": fold, "residual": residual,
            "gelu_epilogue": gelu_epilogue and amp, "p50_ms": p50, "p99_ms": float(np.percentile(ms, 99)),
            "min_ms": float(ms.min()), "setup_s": setup_s,
            "gflop": vit_flops(arch, resolution) / 1e9,
            "tflops": vit_flops(arch, resolution) / (p50 * 1e-3) / 1e12}
