"""Pre-norm transformer block of DINOv2: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x))."""
import torch
from torch import nn

from ros_phmr.model.layers.attention import SelfAttention
from ros_phmr.model.layers.layer_scale import LayerScale
from ros_phmr.model.layers.mlp import Mlp

DINOV2_LAYER_NORM_EPS = 1e-6


class ViTBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=DINOV2_LAYER_NORM_EPS)
        self.attn = SelfAttention(dim, num_heads, qkv_bias=True)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=DINOV2_LAYER_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))  # (B, N, D)
        return x + self.ls2(self.mlp(self.norm2(x)))
