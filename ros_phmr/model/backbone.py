"""DINOv2 ViT/14 image backbone shared by the Multi-HMR and PromptHMR models.

Parameter names equal DINOv2's own (``cls_token``, ``pos_embed``, ``blocks.N.attn.qkv`` ...) so the
released checkpoints load strictly after stripping their prefix (``backbone.encoder.`` in
Multi-HMR, ``image_encoder.backbone.encoder.`` in PromptHMR).

The stored position embedding covers a 37x37 grid (518 px). For other input sizes it is resized
exactly like DINOv2 does (bicubic, no antialias, scale factor ``(grid + 0.1) / 37``), but only
once per input size: the result is cached and recomputed only when the weights change.
"""
import copy
from dataclasses import dataclass, replace
from typing import Dict, Mapping, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from ros_phmr.model.checkpoint import fill_random_
from ros_phmr.model.layers import PatchEmbed, ViTBlock
from ros_phmr.model.layers.block import DINOV2_LAYER_NORM_EPS
from ros_phmr.model.layers.layer_scale import LayerScale

PATCH_SIZE = 14
POS_EMBED_GRID = 37  # DINOv2 hub models are built for 518 px = 37 x 14
INTERPOLATE_OFFSET = 0.1  # DINOv2's historical offset, part of the trained models' behaviour
HEAD_DIM = 64  # every DINOv2 size uses 64-wide heads


@dataclass(frozen=True)
class ViTDims:
    """Width, depth and head count of a ViT; all other sizes follow from them."""

    embed_dim: int
    depth: int
    num_heads: int

    def __post_init__(self):
        if min(self.embed_dim, self.depth, self.num_heads) <= 0:
            raise ValueError(f"ViT dimensions must be positive, got {self}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")


ARCHITECTURES: Dict[str, ViTDims] = {
    "vit_small": ViTDims(384, 12, 6),
    "vit_base": ViTDims(768, 12, 12),
    "vit_large": ViTDims(1024, 24, 16),
}

# torch.hub entry names used in the Multi-HMR / PromptHMR configs.
HUB_NAMES: Dict[str, str] = {
    "dinov2_vits14": "vit_small",
    "dinov2_vitb14": "vit_base",
    "dinov2_vitl14": "vit_large",
}


def arch_dims(arch: str) -> ViTDims:
    """Dimensions of a named architecture ('vit_small' ... or a hub name like 'dinov2_vitl14')."""
    name = HUB_NAMES.get(arch, arch)
    if name not in ARCHITECTURES:
        known = sorted(ARCHITECTURES) + sorted(HUB_NAMES)
        raise ValueError(f"unknown DINOv2 architecture {arch!r}; known: {', '.join(known)}")
    return ARCHITECTURES[name]


def dims_from_state_dict(state_dict: Mapping[str, torch.Tensor], prefix: str = "") -> ViTDims:
    """Infer the ViT size from backbone tensors (keys under ``prefix``); heads are 64 wide."""
    key = prefix + "cls_token"
    if key not in state_dict:
        raise ValueError(f"no DINOv2 backbone in this state dict: key {key!r} is missing")
    embed_dim = int(state_dict[key].shape[-1])
    block_ids = {
        int(k[len(prefix) + len("blocks."):].split(".", 1)[0])
        for k in state_dict
        if k.startswith(prefix + "blocks.")
    }
    if not block_ids or block_ids != set(range(len(block_ids))):
        raise ValueError(f"backbone blocks under {prefix!r}blocks. are missing or not numbered 0..N-1")
    if embed_dim % HEAD_DIM:
        raise ValueError(f"backbone width {embed_dim} is not a multiple of the DINOv2 head width {HEAD_DIM}")
    return ViTDims(embed_dim, len(block_ids), embed_dim // HEAD_DIM)


class DinoV2(nn.Module):
    """DINOv2 ViT/14 (no registers, LayerScale, GELU MLP) returning normalised patch tokens.

    ``DinoV2("vit_large")`` or ``DinoV2.from_dims(embed_dim, depth, num_heads)`` for test sizes.
    """

    patch_size = PATCH_SIZE

    def __init__(self, arch: Union[str, ViTDims] = "vit_large", pos_grid: int = POS_EMBED_GRID):
        super().__init__()
        dims = arch if isinstance(arch, ViTDims) else arch_dims(arch)
        self.dims = dims
        self.embed_dim = dims.embed_dim
        self.pos_grid = pos_grid
        self.patch_embed = PatchEmbed(PATCH_SIZE, 3, dims.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid * pos_grid + 1, dims.embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dims.embed_dim))  # training only; kept for strict loading
        self.blocks = nn.ModuleList(ViTBlock(dims.embed_dim, dims.num_heads) for _ in range(dims.depth))
        self.norm = nn.LayerNorm(dims.embed_dim, eps=DINOV2_LAYER_NORM_EPS)
        # (rows, cols) -> (weights version key, (1, 1 + rows*cols, D) tensor)
        self._pos_cache: Dict[Tuple[int, int], Tuple[tuple, torch.Tensor]] = {}

    @classmethod
    def from_dims(cls, embed_dim: int, depth: int, num_heads: int, pos_grid: int = POS_EMBED_GRID) -> "DinoV2":
        return cls(ViTDims(embed_dim, depth, num_heads), pos_grid=pos_grid)

    def fill_random_(self, generator: torch.Generator) -> "DinoV2":
        """Random weights for random-weight checkpoints: generic fill, then DINOv2-like magnitudes
        for the tokens (position embedding large enough that its resizing matters) and LayerScale."""
        fill_random_(self, generator)
        with torch.no_grad():
            self.pos_embed.copy_(0.2 * torch.randn(self.pos_embed.shape, generator=generator))
            self.cls_token.copy_(0.2 * torch.randn(self.cls_token.shape, generator=generator))
            for block in self.blocks:
                for scale in (block.ls1, block.ls2):
                    scale.gamma.copy_(0.5 + 0.1 * torch.randn(scale.gamma.shape, generator=generator))
        return self

    def deepen_(self, depth: int) -> "DinoV2":
        """Grow to ``depth`` blocks without changing what the backbone computes: each new block is
        a copy of the block it follows, with both LayerScales at zero, so it adds nothing until
        training moves its scales. New blocks are spread evenly between the old ones.

        Why: a trained model gets more capacity and keeps what it learned (net2net-style growth).
        """
        old = len(self.blocks)
        if depth < old:
            raise ValueError(f"cannot deepen a {old}-block backbone to {depth} blocks")
        added = depth - old
        # Old block i is followed by the new blocks whose evenly spaced slot falls on it.
        after = [int((k + 0.5) * old / added) for k in range(added)] if added else []
        blocks = []
        for i, block in enumerate(self.blocks):
            blocks.append(block)
            for _ in range(after.count(i)):
                twin = copy.deepcopy(block)
                for scale in (twin.ls1, twin.ls2):
                    if not isinstance(scale, LayerScale):
                        raise ValueError("cannot deepen a backbone whose LayerScale was folded into its weights")
                    with torch.no_grad():
                        scale.gamma.zero_()
                blocks.append(twin)
        self.blocks = nn.ModuleList(blocks)
        self.dims = replace(self.dims, depth=depth)
        return self

    def merge_class_key_(self, enabled: bool = True) -> "DinoV2":
        """Every block's attention takes the class token's key apart and merges it in by
        log-sum-exp (``SelfAttention.merge_first_key``): same result, faster once compiled."""
        for block in self.blocks:
            block.attn.merge_first_key = enabled
        return self

    def fuse_gelu_epilogue_(self, enabled: bool = True) -> "DinoV2":
        """Every block's MLP applies its GELU in fc1's matmul epilogue (``Mlp.gelu_epilogue``):
        on CUDA with half-precision weights, saves a pass over the hidden activations."""
        for block in self.blocks:
            block.mlp.gelu_epilogue = enabled
        return self

    def token_grid(self, height: int, width: int) -> Tuple[int, int]:
        """Patch grid (rows, cols) for an input size; ValueError when not a multiple of 14."""
        if height <= 0 or width <= 0 or height % PATCH_SIZE or width % PATCH_SIZE:
            raise ValueError(f"input size {height}x{width} must be a positive multiple of the patch size {PATCH_SIZE}")
        return int(height) // PATCH_SIZE, int(width) // PATCH_SIZE  # plain ints, also under tracing

    def position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        """(1, 1 + rows*cols, D) position embedding (CLS first) for a token grid, cached."""
        if self.pos_embed.requires_grad and torch.is_grad_enabled() and not torch.jit.is_tracing():
            return self._resize_position_embedding(rows, cols)  # training: keep the graph
        weights_key = (self.pos_embed.device, self.pos_embed.dtype, self.pos_embed.data_ptr(), self.pos_embed._version)
        entry = self._pos_cache.get((rows, cols))
        if entry is None or entry[0] != weights_key:
            with torch.no_grad():
                entry = (weights_key, self._resize_position_embedding(rows, cols))
            self._pos_cache[(rows, cols)] = entry
        return entry[1]

    def _resize_position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        grid, dim = self.pos_grid, self.embed_dim
        if rows == grid and cols == grid:
            return self.pos_embed
        pos = self.pos_embed.float()
        patch_pos = pos[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)  # (1, D, 37, 37)
        patch_pos = F.interpolate(
            patch_pos,
            scale_factor=((rows + INTERPOLATE_OFFSET) / grid, (cols + INTERPOLATE_OFFSET) / grid),
            mode="bicubic",
            antialias=False,
        )  # (1, D, rows, cols)
        if tuple(patch_pos.shape[-2:]) != (rows, cols):
            raise ValueError(f"position embedding resize gave {tuple(patch_pos.shape[-2:])}, expected {(rows, cols)}")
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
        return torch.cat([pos[:, :1], patch_pos], dim=1).to(self.pos_embed.dtype)  # (1, 1 + rows*cols, D)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) normalised -> patch tokens (B, H/14 * W/14, D) after the final norm."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        rows, cols = self.token_grid(images.shape[2], images.shape[3])
        x = self.patch_embed(images)  # (B, N, D)
        # No cast of the CLS token: under autocast torch.cat promotes to fp32, as in DINOv2.
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, 1 + N, D)
        x = x + self.position_embedding(rows, cols).to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 1:]  # (B, N, D), CLS dropped
