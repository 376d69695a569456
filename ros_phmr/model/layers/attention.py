"""Multi-head self-attention with one fused qkv projection (DINOv2 key layout: ``qkv``, ``proj``)."""
import torch
from torch import nn
from torch.nn import functional as F


class SelfAttention(nn.Module):
    """Self-attention computed by ``scaled_dot_product_attention`` so that PyTorch picks the
    fastest kernel (flash / memory-efficient / math) for the device and dtype."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"embedding dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape  # (B, N, D)
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, D/H)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, D/H)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))
