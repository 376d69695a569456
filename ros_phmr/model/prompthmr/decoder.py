"""Two-way transformer of PromptHMR's SMPL-X decoder, batched over all people of all images.

Per person there are 5 query tokens [smpl, loc, box_tl, box_br, text] and a private copy of the
image tokens. Each block (post-norm, LayerNorm eps 1e-5):

1. self-attention of the 5 tokens (block 0: no positional encoding and no residual), norm1;
2. cross-person attention of the (smpl, loc) tokens of interacting people, norm2 (see
   ``interaction.py``; people that do not interact skip this step and norm2);
3. tokens -> image cross-attention, norm3;  4. ReLU MLP, norm4;
5. image -> tokens cross-attention updating the person's image tokens, norm5.

Steps 3 and 5 and the final attention fold the image-side projections into the person's few
tokens (``ProjectedAttention.tokens_to_image`` / ``image_to_tokens``): a person's 4096 image
tokens then cost a few thin matrix products per block instead of four (HW, D) x (D, D/2) ones.

A final tokens -> image attention and LayerNorm follow. The initial tokens are the queries'
positional encoding. State-dict layout: ``layers.{i}.{self_attn, norm1, cross_person_attn, norm2,
cross_attn_token_to_image, norm3, mlp.lin1, mlp.lin2, norm4, norm5, cross_attn_image_to_token,
pe.pos_table}``, ``final_attn_token_to_image``, ``norm_final_attn``.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from ros_phmr.model.prompthmr.attention import PositionedImage, ProjectedAttention
from ros_phmr.model.prompthmr.positional import PersonIndexEncoding

NUM_HEADS = 8
INTERACTING_TOKENS = 2  # smpl and loc tokens take part in the cross-person attention


@dataclass
class CrossPersonPlan:
    """active (N,) bool, token_mask (2N, 2N) bool, group_rank (N,) long; see interaction.py."""

    active: torch.Tensor
    token_mask: torch.Tensor
    group_rank: torch.Tensor


class _MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(torch.relu(self.lin1(x)))


class CrossPersonBlock(nn.Module):
    def __init__(self, dim: int, mlp_dim: int, attention_dim: int, first: bool):
        super().__init__()
        self.first = first
        self.self_attn = ProjectedAttention(dim, attention_dim, NUM_HEADS)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_person_attn = ProjectedAttention(dim, attention_dim, NUM_HEADS)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = ProjectedAttention(dim, attention_dim, NUM_HEADS)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = _MLP(dim, mlp_dim)
        self.norm4 = nn.LayerNorm(dim)
        self.norm5 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = ProjectedAttention(dim, attention_dim, NUM_HEADS)
        self.pe = PersonIndexEncoding(dim)

    def _cross_person(self, queries: torch.Tensor, query_pe: torch.Tensor, plan: CrossPersonPlan) -> torch.Tensor:
        count, dim = queries.shape[0], queries.shape[-1]
        pair = queries[:, :INTERACTING_TOKENS]  # (N, 2, D)
        q = pair + query_pe[:, :INTERACTING_TOKENS] + self.pe(plan.group_rank)[:, None]  # (N, 2, D)
        q = q.reshape(1, count * INTERACTING_TOKENS, dim)  # person-major sequence
        out = self.cross_person_attn(q, q, pair.reshape(1, -1, dim), mask=plan.token_mask[None])  # (1, 2N, D)
        updated = torch.cat([pair + out.reshape(count, INTERACTING_TOKENS, dim), queries[:, INTERACTING_TOKENS:]], 1)
        return torch.where(plan.active[:, None, None], self.norm2(updated), queries)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        query_pe: torch.Tensor,
        image_pe: torch.Tensor,
        plan: Optional[CrossPersonPlan],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """queries (N, T, D), keys (N, HW, D), query_pe (N, T, D), image_pe (HW, D)."""
        if self.first:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)

        if plan is not None:
            queries = self._cross_person(queries, query_pe, plan)

        image = PositionedImage(keys, image_pe)  # keys + image_pe: formed at most once per block
        attended = self.cross_attn_token_to_image.tokens_to_image(queries + query_pe, image)
        queries = self.norm3(queries + attended)
        queries = self.norm4(queries + self.mlp(queries))
        update = self.cross_attn_image_to_token.image_to_tokens(image, queries + query_pe, queries)
        keys = self.norm5(keys + update)
        return queries, keys


class TwoWayDecoder(nn.Module):
    def __init__(self, dim: int, depth: int, mlp_dim: int, attention_dim: int):
        super().__init__()
        self.layers = nn.ModuleList(CrossPersonBlock(dim, mlp_dim, attention_dim, first=(i == 0)) for i in range(depth))
        self.final_attn_token_to_image = ProjectedAttention(dim, attention_dim, NUM_HEADS)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(
        self,
        image_tokens: torch.Tensor,
        image_pe: torch.Tensor,
        tokens: torch.Tensor,
        plan: Optional[CrossPersonPlan] = None,
    ) -> torch.Tensor:
        """image_tokens (N, HW, D), image_pe (HW, D), tokens (N, T, D) -> tokens (N, T, D).

        Weights cast to a low-precision dtype for inference (``runtime.precision``) run the whole
        decoder in that dtype outside autocast: every person's (HW, D) image copy then moves at
        half the bytes, LayerNorm still accumulates in float32 and the tokens come back as float32.
        Give it image tokens already in ``dtype`` (the per-person copies are then made in it).
        """
        dtype = self.dtype
        if dtype != tokens.dtype and dtype in (torch.float16, torch.bfloat16):
            with torch.autocast(image_tokens.device.type, enabled=False):
                queries = self.forward(image_tokens.to(dtype), image_pe.to(dtype), tokens.to(dtype), plan)
            return queries.float()
        queries, keys = tokens, image_tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, image_pe, plan)
        out = self.final_attn_token_to_image.tokens_to_image(queries + tokens, PositionedImage(keys, image_pe))
        return self.norm_final_attn(queries + out)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype its weights are held in (float32, or a low-precision inference cast)."""
        return self.norm_final_attn.weight.dtype
