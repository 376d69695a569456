"""Mixed-precision preparation of a model for GPU inference.

Autocast casts every matmul/conv weight to the low-precision dtype on every call unless it may
cache the casts, and caching is not allowed inside a CUDA-graph capture. Casting the weights of
``nn.Linear`` / ``nn.Conv2d`` once at load gives autocast nothing to do for them (it skips a
tensor that already has the target dtype), halves the weight bytes read per frame and keeps the
arithmetic exactly what autocast computes. Norm layers, embeddings and buffers stay float32, so
LayerNorm statistics, position embeddings, residual streams that autocast promotes to float32
and the SMPL-X skinning (run outside autocast) keep full precision.
"""
import torch
from torch import nn

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def amp_dtype(precision: str) -> torch.dtype:
    """'fp16' / 'bf16' -> torch dtype; ValueError for anything else."""
    if precision not in AMP_DTYPES:
        raise ValueError(f"mixed precision must be one of {tuple(AMP_DTYPES)}, got {precision!r}")
    return AMP_DTYPES[precision]


def cast_matmul_weights_(module: nn.Module, dtype: torch.dtype) -> int:
    """Cast the parameters of every Linear / Conv layer under ``module`` to ``dtype`` in place.

    Returns how many layers were cast. Only for modules run under ``torch.autocast`` with the
    same dtype: outside autocast a float32 input would meet a low-precision weight.
    """
    count = 0
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            layer.to(dtype)
            count += 1
    return count


def fold_layer_scale_(backbone: nn.Module) -> int:
    """Fold every DINOv2 LayerScale into the linear layer before it, in place; returns the count.

    ls(W x + b) = (g * W) x + g * b exactly, so each block saves two elementwise passes over
    its (tokens, D) activations. Run it on float32 weights, before any low-precision cast; the
    module then no longer has ``ls1``/``ls2`` parameters (inference copies only).
    """
    folded = 0
    for block in getattr(backbone, "blocks", ()):
        for name, linear in (("ls1", block.attn.proj), ("ls2", block.mlp.fc2)):
            scale = getattr(block, name)
            if not hasattr(scale, "gamma"):
                continue
            gamma = scale.gamma.detach().to(linear.weight.dtype)
            with torch.no_grad():
                linear.weight.mul_(gamma[:, None])
                linear.bias.mul_(gamma)
            setattr(block, name, nn.Identity())
            folded += 1
    return folded


def low_precision_decoder_(prompthmr: nn.Module, dtype: torch.dtype) -> None:
    """Hold PromptHMR's two-way decoder transformer entirely in ``dtype`` (norms included).

    Its per-person image-token copies dominate the decoder's memory traffic; in ``dtype`` they
    move at half the bytes and no autocast casts are interleaved (see ``TwoWayDecoder.forward``).
    The heads that turn its tokens into SMPL-X parameters keep running under autocast.
    """
    prompthmr.net.smpl_decoder.transformer.to(dtype)
