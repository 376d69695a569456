"""FLOP and byte model of a frame per profile, and the latency it implies on other GPUs.

Counts matmul FLOPs (2 per multiply-add) of what dominates: the DINOv2 backbones (attention's
quadratic term included), PromptHMR's neck and per-person two-way decoder over the image tokens,
Multi-HMR's head, and SMPL-X skinning. Bytes are what must cross DRAM at least once: fp16
weights, the backbone activations with fused attention (about 60 N d bytes per block, as in
performance.md), the decoder's per-person copy of the image tokens, and the fp32 SMPL-X
constants. Time on a GPU = max(FLOPs / peak, bytes / bandwidth) / efficiency, with the efficiency
that TensorRT fp16 reaches at batch 1 on Orin (35-45 %, four independent anchors).
"""
from __future__ import annotations

from dataclasses import dataclass

from ros_phmr.model.backbone import arch_dims
from ros_phmr.model.prompthmr.attention import FOLD_MIN_PEOPLE
from ros_phmr.model.prompthmr.decoder import NUM_HEADS as DECODER_HEADS

RAY_CHANNELS = 99
DECODER_QUERY_TOKENS = 5
SMPLX_FLOPS_PER_PERSON = 54e6  # performance.md section 4 (beta + expression = 20)
SMPLX_CONSTANT_BYTES = 68e6  # fp32 posedirs, shapedirs, weights: read once per batch


@dataclass(frozen=True)
class Hardware:
    name: str
    fp16_tflops: float  # dense tensor-core peak
    bandwidth_gbs: float


JETSONS = (
    Hardware("AGX Orin 64GB", 42.5, 204.8),
    Hardware("Orin NX 16GB", 15.0, 102.4),
    Hardware("Orin Nano Super 8GB", 16.7, 102.0),
)
EFFICIENCY = (0.35, 0.45)  # measured TensorRT fp16 share of peak at batch 1 on Orin


def vit_params(arch: str) -> int:
    d, depth = arch_dims(arch).embed_dim, arch_dims(arch).depth
    return depth * (12 * d * d + 15 * d) + 588 * d + 1375 * d


def vit_flops(arch: str, resolution: int) -> float:
    """L (24 N d^2 + 4 N^2 d) + 2 P 588 d at batch 1 (N = P + 1 tokens)."""
    dims = arch_dims(arch)
    patches = (resolution // 14) ** 2
    tokens, d = patches + 1, dims.embed_dim
    return dims.depth * (24 * tokens * d * d + 4 * tokens * tokens * d) + 2 * patches * 588 * d


def vit_bytes(arch: str, resolution: int) -> float:
    """fp16 weights once + about 60 N d activation bytes per block (fused attention)."""
    dims = arch_dims(arch)
    tokens = (resolution // 14) ** 2 + 1
    return 2 * vit_params(arch) + dims.depth * 60 * tokens * dims.embed_dim


def prompthmr_neck_flops(resolution: int, backbone: str = "vit_large", dim: int = 1024) -> float:
    """1x1 neck conv (Dv -> D) and camera conditioning conv (D + 99 -> D) on every token."""
    tokens = (resolution // 14) ** 2
    return 2 * tokens * dim * (arch_dims(backbone).embed_dim + dim + RAY_CHANNELS)


def prompthmr_decoder_flops(resolution: int, people: int, dim: int = 1024, attention_dim: int = 512,
                            depth: int = 4, mlp_dim: int = 1024) -> float:
    """Two-way decoder. Plain (fewer than FOLD_MIN_PEOPLE people): per layer and person four
    (tokens x D x D/2) projections over its own copy of the image tokens (k, v of token->image;
    q, out of image->token), the final token->image attention's k and v, plus the small
    query-side work (5 tokens). Folded: per attention three (tokens x D x 40) products (scores of
    the tokens and of the positional encoding, then pooling or mixing), 40 = heads x 5 tokens."""
    hw = (resolution // 14) ** 2
    T = DECODER_QUERY_TOKENS
    mlp = 2 * 2 * T * dim * mlp_dim
    if people >= FOLD_MIN_PEOPLE:
        image_side = (2 * depth + 1) * 3 * 2 * hw * dim * DECODER_HEADS * T
        query_side = depth * (12 * 2 * T * dim * attention_dim + mlp) + 4 * 2 * T * dim * attention_dim
        return people * (image_side + query_side)
    image_side = depth * 4 * 2 * hw * dim * attention_dim + 2 * 2 * hw * dim * attention_dim
    attention = (depth * 2 + 1) * 2 * 2 * hw * T * attention_dim
    query_side = depth * (4 * 2 * T * dim * attention_dim * 2 + mlp)
    return people * (image_side + attention + query_side)


def prompthmr_decoder_bytes(resolution: int, people: int, dim: int = 1024, depth: int = 4) -> float:
    """About 12 fp16 passes over each person's (tokens x D) image copy per layer; 9 folded
    (three reads for the scores and the pooling, the update's write, residual and LayerNorm)."""
    hw = (resolution // 14) ** 2
    passes = 9 if people >= FOLD_MIN_PEOPLE else 12
    return people * depth * passes * hw * dim * 2


def multihmr_head_flops(resolution: int, backbone: str, people: int, hph_dim: int = 1024,
                        depth: int = 2, inner: int = 256) -> float:
    """Detection MLPs on every token, the per-image key/value projection of the context, the
    people's queries (self, cross, feed-forward)."""
    tokens = (resolution // 14) ** 2
    d = arch_dims(backbone).embed_dim
    context = d + RAY_CHANNELS
    detection = 2 * tokens * d * d * 2
    keys_values = depth * 2 * tokens * context * 2 * inner
    cross = depth * 2 * 2 * tokens * people * inner
    queries = people * depth * (2 * hph_dim * 3 * inner + 2 * hph_dim * inner * 2 + 4 * hph_dim * hph_dim)
    return detection + keys_values + cross + queries


def profile_cost(profile: str, people: int, detector: tuple = ("vit_small", 672),
                 decoder: tuple = ("vit_large", 896)) -> dict:
    """{"flops", "bytes", "parts": {name: (flops, bytes)}} of one frame.

    ``profile`` "fused": one backbone (``detector``) feeds both heads (a fused checkpoint)."""
    parts = {}
    if profile == "fused":
        arch, res = detector
        parts["shared backbone"] = (vit_flops(arch, res) + prompthmr_neck_flops(res, arch), vit_bytes(arch, res))
        parts["detector head"] = (multihmr_head_flops(res, arch, people), 0.0)
        parts["decoder"] = (prompthmr_decoder_flops(res, people), prompthmr_decoder_bytes(res, people))
    if profile in ("multihmr", "prompthmr+multihmr"):
        arch, res = detector
        parts["detector backbone"] = (vit_flops(arch, res), vit_bytes(arch, res))
        parts["detector head"] = (multihmr_head_flops(res, arch, people), 0.0)
    if profile in ("prompthmr", "prompthmr+multihmr"):
        arch, res = decoder
        parts["decoder backbone"] = (vit_flops(arch, res) + prompthmr_neck_flops(res, arch), vit_bytes(arch, res))
        parts["decoder"] = (prompthmr_decoder_flops(res, people), prompthmr_decoder_bytes(res, people))
    parts["SMPL-X"] = (SMPLX_FLOPS_PER_PERSON * people, SMPLX_CONSTANT_BYTES)
    return {"flops": sum(f for f, _ in parts.values()), "bytes": sum(b for _, b in parts.values()),
            "parts": parts}


def latency_ms(cost: dict, hw: Hardware, efficiency: float) -> float:
    """max(compute, memory) time of a frame's parts, divided by the efficiency."""
    total = 0.0
    for flops, nbytes in cost["parts"].values():
        total += max(flops / (hw.fp16_tflops * 1e12), nbytes / (hw.bandwidth_gbs * 1e9))
    return 1e3 * total / efficiency


PROFILES = (
    ("Multi-HMR ViT-S/448", "multihmr", ("vit_small", 448), None),
    ("Multi-HMR ViT-S/672", "multihmr", ("vit_small", 672), None),
    ("Multi-HMR ViT-B/448", "multihmr", ("vit_base", 448), None),
    ("Fused ViT-S/448 (one backbone, both heads)", "fused", ("vit_small", 448), None),
    ("Fused ViT-B/448 (one backbone, both heads)", "fused", ("vit_base", 448), None),
    ("PromptHMR ViT-L/448 + Multi-HMR ViT-S/448", "prompthmr+multihmr", ("vit_small", 448), ("vit_large", 448)),
    ("PromptHMR ViT-L/896 + Multi-HMR ViT-S/672", "prompthmr+multihmr", ("vit_small", 672), ("vit_large", 896)),
)


def jetson_table(people: int = 5) -> str:
    """Markdown table: FLOPs, bytes and the latency range on each Jetson module."""
    head = "| profile | GFLOP | MB moved | " + " | ".join(f"{hw.name} (ms)" for hw in JETSONS) + " |"
    lines = [head, "|" + "---|" * (3 + len(JETSONS))]
    for label, profile, det, dec in PROFILES:
        kwargs = {k: v for k, v in (("detector", det), ("decoder", dec)) if v is not None}
        cost = profile_cost(profile, people, **kwargs)
        cells = []
        for hw in JETSONS:
            fast, slow = (latency_ms(cost, hw, e) for e in reversed(EFFICIENCY))
            mark = "yes" if slow <= 33.3 else ("maybe" if fast <= 33.3 else "no")
            cells.append(f"{fast:.0f}-{slow:.0f} ({mark})")
        lines.append(f"| {label} | {cost['flops'] / 1e9:.0f} | {cost['bytes'] / 1e6:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
