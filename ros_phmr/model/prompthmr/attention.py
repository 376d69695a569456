"""Multi-head attention that projects q, k, v to a narrower internal width (SAM-style
``downsample_rate``), then back. Every attention of PromptHMR's decoder uses internal width
D/2 with 8 heads; parameters ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``.

Between a person's few tokens (T = 5) and its many image tokens (HW = 4096 at 896 px) the
projections on the image side are folded into the tokens' side instead (``tokens_to_image``,
``image_to_tokens``): with 8 heads x 5 tokens = 40 score columns, a person's image tokens are
only ever multiplied by (D, 40) matrices, never projected to (HW, D/2) keys, values or queries.
The result is the same attention, computed with far fewer FLOPs and bytes per person, but in
more, smaller kernels: on an H200 (bench/results/2026-11-21_H200_edbc626_decoder_fold_ab.json)
the folded decoder took 2.3 ms for 1 person against 1.5 ms plainly, broke even near 5 people
and took 7.7 ms against 10.1 at 20. Batches of fewer than ``FOLD_MIN_PEOPLE`` people therefore
take the plain path.
"""
import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

FOLD_MIN_PEOPLE = 6  # persons in a batch from which the folded form is used


class PositionedImage:
    """Each person's image tokens (N, HW, D) and the shared positional encoding (HW, D).

    On the plain path both cross-attentions of a decoder block read tokens + encoding of the same
    tokens; ``with_pe`` forms that (N, HW, D) sum once, on first use, and never on the folded path.
    """

    def __init__(self, tokens: torch.Tensor, pe: torch.Tensor):
        self.tokens, self.pe = tokens, pe
        self._with_pe: Optional[torch.Tensor] = None

    @property
    def with_pe(self) -> torch.Tensor:
        if self._with_pe is None:
            self._with_pe = self.tokens + self.pe
        return self._with_pe


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

    def _head_weights(self, linear: nn.Linear) -> torch.Tensor:
        """(A, D) projection weight -> (H, d, D)."""
        return linear.weight.unflatten(0, (self.num_heads, -1))

    def _scale(self) -> float:
        return 1.0 / math.sqrt(self.q_proj.weight.shape[0] // self.num_heads)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """q (B, Nq, D), k and v (B, Nk, D); mask (B|1, Nq, Nk) bool, True = may attend -> (B, Nq, D)."""
        q = self._split_heads(self.q_proj(q))
        k = self._split_heads(self.k_proj(k))
        v = self._split_heads(self.v_proj(v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None])
        return self.out_proj(out.transpose(1, 2).flatten(2))  # (B, Nq, D)

    def tokens_to_image(self, queries: torch.Tensor, positioned: PositionedImage) -> torch.Tensor:
        """``forward(queries, image + image_pe, image)`` for few queries over many image tokens.

        queries (N, T, D), image (N, HW, D), image_pe (HW, D) -> (N, T, D). Per head h and query t
        the score of image token p is q_th . (W_k,h x_p + b_k,h): the bias term is the same for
        every p and cancels in the softmax, so scores = x_p . (W_k,h^T q_th). The values' softmax
        average commutes with W_v: the image tokens are pooled first, then projected.
        """
        image, image_pe = positioned.tokens, positioned.pe
        N, T, _ = queries.shape
        if N < FOLD_MIN_PEOPLE:
            return self(queries, positioned.with_pe, image)
        q = self.q_proj(queries).unflatten(-1, (self.num_heads, -1))                        # (N, T, H, d)
        folded = torch.einsum("nthe,hed->nhtd", q, self._head_weights(self.k_proj)) * self._scale()
        folded = folded.flatten(1, 2)                                                       # (N, H*T, D)
        scores = torch.bmm(image, folded.transpose(1, 2)) + torch.einsum("pd,nkd->npk", image_pe, folded)
        weights = _softmax(scores, dim=1)                                                    # (N, HW, H*T) over HW
        pooled = torch.bmm(weights.transpose(1, 2), image).unflatten(1, (self.num_heads, T))  # (N, H, T, D)
        values = torch.einsum("nhtd,hed->nthe", pooled, self._head_weights(self.v_proj))   # (N, T, H, d)
        return self.out_proj(values.flatten(2) + self.v_proj.bias)                          # (N, T, D)

    def image_to_tokens(self, positioned: PositionedImage, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``forward(image + image_pe, keys, values)`` for many image queries over few tokens.

        image (N, HW, D), image_pe (HW, D), keys and values (N, T, D) -> (N, HW, D). The query
        projection folds into the keys (score = x_p . W_q,h^T k_th + b_q,h . k_th) and the output
        projection into the values (W_o,h v_th), so the per-image-token work is one product with
        a (D, H*T) matrix, a softmax over T, and one with an (H*T, D) matrix.
        """
        image, image_pe = positioned.tokens, positioned.pe
        N, T, _ = keys.shape
        if N < FOLD_MIN_PEOPLE:
            return self(positioned.with_pe, keys, values)
        k = self.k_proj(keys).unflatten(-1, (self.num_heads, -1))                           # (N, T, H, d)
        v = self.v_proj(values).unflatten(-1, (self.num_heads, -1))                         # (N, T, H, d)
        folded = torch.einsum("nthe,hed->nhtd", k, self._head_weights(self.q_proj)).flatten(1, 2) * self._scale()
        bias = torch.einsum("nthe,he->nht", k, self.q_proj.bias.unflatten(0, (self.num_heads, -1)))
        scores = (torch.bmm(image, folded.transpose(1, 2)) + torch.einsum("pd,nkd->npk", image_pe, folded)
                  + bias.flatten(1)[:, None] * self._scale())                               # (N, HW, H*T)
        weights = _softmax(scores.unflatten(-1, (self.num_heads, T)), dim=-1).flatten(2)  # over each head's T
        out_weight = self.out_proj.weight.unflatten(1, (self.num_heads, -1))                # (D, H, d)
        mixed = torch.einsum("nthe,dhe->nhtd", v, out_weight).flatten(1, 2)                 # (N, H*T, D)
        return torch.bmm(weights, mixed) + self.out_proj.bias                               # (N, HW, D)


def _softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax accumulated in at least float32 (as SDPA does), returned in the input's dtype."""
    return x.to(torch.promote_types(x.dtype, torch.float32)).softmax(dim).to(x.dtype)
