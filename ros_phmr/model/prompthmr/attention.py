"""Multi-head attention that projects q, k, v to a narrower internal width (SAM-style
``downsample_rate``), then back. Every attention of PromptHMR's decoder uses internal width
D/2 with 8 heads; parameters ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``."""
from typing import List, Optional, Sequence, Tuple

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

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Already projected q (B, Nq, A), k and v (B, Nk, A) -> (B, Nq, D)."""
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None])
        return self.out_proj(out.transpose(1, 2).flatten(2))

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """q (B, Nq, D), k and v (B, Nk, D); mask (B|1, Nq, Nk) bool, True = may attend -> (B, Nq, D)."""
        return self.attend(self.q_proj(q), self.k_proj(k), self.v_proj(v), mask)


def project_image_tokens(
    tokens: torch.Tensor, pe: torch.Tensor, projections: Sequence[Tuple[nn.Linear, bool]]
) -> List[torch.Tensor]:
    """Several projections of the image tokens in one matrix product.

    tokens (B, HW, D), pe (HW, D); ``projections`` lists (linear, with_pe): ``linear(tokens + pe)``
    when ``with_pe``, else ``linear(tokens)``. Since ``W (x + p) = W x + W p``, the positional part
    is projected once for the whole batch and added, so the (B, HW, D) sum is never formed and the
    per-person work is a single wide GEMM. Returns the projections in order, each (B, HW, A_i).
    """
    weight = torch.cat([linear.weight for linear, _ in projections])  # (sum A_i, D)
    pe_terms = [linear(pe) if with_pe else linear.bias.expand(pe.shape[0], -1) for linear, with_pe in projections]
    out = F.linear(tokens, weight)  # (B, HW, sum A_i)
    out = out + torch.cat(pe_terms, -1).to(out.dtype)
    return list(out.split([linear.weight.shape[0] for linear, _ in projections], dim=-1))
