"""Multi-head attention that projects q, k, v to a narrower internal width (SAM-style
``downsample_rate``), then back. Every attention of PromptHMR's decoder uses internal width
D/2 with 8 heads; parameters ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``."""
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F


class ProjectedAttention(nn.Module):
    def __init__(self, dim: int, internal_dim: int, num_heads: int):
        super().__init__()
        if internal_dim % num_heads:
            raise ValueError(f"attention width {internal_dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, internal_dim)
        self.k_proj = nn.Linear(dim, internal_dim)
        self.v_proj = nn.Linear(dim, internal_dim)
        self.out_proj = nn.Linear(internal_dim, dim)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)  # (B, H, N, d)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """q (B, Nq, D), k and v (B, Nk, D); mask (B|1, Nq, Nk) bool, True = may attend -> (B, Nq, D)."""
        q = self._split_heads(self.q_proj(q))
        k = self._split_heads(self.k_proj(k))
        v = self._split_heads(self.v_proj(v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None])
        return self.out_proj(out.transpose(1, 2).flatten(2))  # (B, Nq, D)
