"""Human Perception Head (HPH) of Multi-HMR: one query per detected person, a small pre-norm
transformer (self-attention between the people of an image, cross-attention to every image
token, feed-forward), then linear decoders added to initial SMPL-X parameters.

Module names reproduce the released state-dict keys (``x_attention_head.transformer.transformer.
layers.{l}.{0,1,2}.{norm,fn}...``). The released code gathers a variable number of people and
pads them per image; here every image has a fixed number of person slots with a validity mask,
so shapes never depend on the data. Invalid slots are masked out of the self-attention keys and
do not add value embeddings to the context, which leaves the valid people's results unchanged.
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from ros_phmr.model.multihmr.config import NUM_EXPRESSION, MultiHMRConfig


class PreNorm(nn.Module):
    """LayerNorm (PyTorch default eps 1e-5) on the query stream before ``fn``."""

    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, tokens, width = x.shape
    return x.view(batch, tokens, heads, width // heads).transpose(1, 2)  # (B, H, T, d)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    batch, heads, tokens, dim_head = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, heads * dim_head)


class PeopleSelfAttention(nn.Module):
    """Attention between the person queries of one image; ``key_bias`` hides empty slots."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))  # (B, H, P, d)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias)  # key_bias (B, 1, 1, P)
        return self.to_out(_merge_heads(out))


class ImageCrossAttention(nn.Module):
    """Person queries attend to every image token (features + rays + value embeddings)."""

    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.to_kv = nn.Linear(context_dim, 2 * heads * dim_head, bias=False)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        k, v = (_split_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))  # (B, H, N, d)
        q = _split_heads(self.to_q(x), self.heads)  # (B, H, P, d)
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        # Index 2 held a dropout in the released layout; the identity keeps 'net.3' as the key.
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Identity(), nn.Linear(hidden_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LayerStack(nn.Module):
    def __init__(self, config: MultiHMRConfig):
        super().__init__()
        dim, heads, dim_head = config.hph_dim, config.hph_heads, config.hph_dim_head
        self.layers = nn.ModuleList(
            nn.ModuleList([
                PreNorm(dim, PeopleSelfAttention(dim, heads, dim_head)),
                PreNorm(dim, ImageCrossAttention(dim, config.context_dim, heads, dim_head)),
                PreNorm(dim, FeedForward(dim, config.hph_mlp_dim)),
            ])
            for _ in range(config.hph_depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x (B, P, dim) queries, context (B, N, C'), valid (B, P) bool -> (B, P, dim)."""
        slot = valid.to(x.dtype)[..., None]  # (B, P, 1)
        # Large finite negative, not -inf: an image without people must not produce NaNs.
        key_bias = torch.where(valid, 0.0, torch.finfo(x.dtype).min / 2).to(x.dtype)[:, None, None, :]
        for self_attn, cross_attn, feed_forward in self.layers:
            x = x * slot
            x = self_attn.fn(self_attn.norm(x), key_bias) + x
            x = cross_attn.fn(cross_attn.norm(x), context) + x
            x = feed_forward.fn(feed_forward.norm(x)) + x
        return x * slot


class QueryTransformer(nn.Module):
    """Token embedding + constant 'position' bias + the layer stack (released name: transformer)."""

    def __init__(self, config: MultiHMRConfig):
        super().__init__()
        self.to_token_embedding = nn.Linear(config.token_dim, config.hph_dim)
        self.pos_embedding = nn.Parameter(torch.zeros(1, 1, config.hph_dim))
        self.transformer = LayerStack(config)

    def forward(self, tokens: torch.Tensor, context: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = self.to_token_embedding(tokens) + self.pos_embedding[:, 0][:, None, :]  # (B, P, dim)
        return self.transformer(x, context, valid)


@dataclass
class HPHOutput:
    """Decoded HPH outputs per person slot, initial values included."""

    pose6d: torch.Tensor  # (B, P, 53*6) rot6d, 'columns' convention
    betas: torch.Tensor  # (B, P, num_betas)
    cam: torch.Tensor  # (B, P, 3); cam[..., 0] is the normalised log-depth
    expression: torch.Tensor  # (B, P, 10)
    box: Optional[torch.Tensor] = None  # (B, P, 4) raw box output (detection.decode_person_boxes)


class HumanPerceptionHead(nn.Module):
    def __init__(self, config: MultiHMRConfig):
        super().__init__()
        grid, context_dim = config.grid, config.context_dim
        self.grid = grid
        # '_x' tables are indexed by the token ROW and '_y' by the column, as released.
        self.cross_queries_x = nn.Parameter(torch.zeros(grid, context_dim))
        self.cross_queries_y = nn.Parameter(torch.zeros(grid, context_dim))
        self.cross_values_x = nn.Parameter(torch.zeros(grid, context_dim))
        self.cross_values_y = nn.Parameter(torch.zeros(grid, context_dim))
        self.transformer = QueryTransformer(config)
        self.decpose = nn.Linear(config.hph_dim, config.pose_dim)
        self.decshape = nn.Linear(config.hph_dim, config.num_betas)
        self.deccam = nn.Linear(config.hph_dim, 3)
        self.decexpression = nn.Linear(config.hph_dim, NUM_EXPRESSION)
        # Not in the released model: a box per person, for models whose meshes are not yet
        # accurate enough to box a person (our small synthetic-data models).
        self.decbox = nn.Linear(config.hph_dim, 4) if config.box_head else None
        # Initial values; always taken from the checkpoint (never recomputed).
        self.register_buffer("init_body_pose", torch.zeros(1, config.pose_dim))
        self.register_buffer("init_betas", torch.zeros(1, config.num_betas))
        self.register_buffer("init_betas_kid", torch.zeros(1, 11))  # stored, unused at inference
        self.register_buffer("init_cam", torch.zeros(1, 3))
        self.register_buffer("init_expression", torch.zeros(1, NUM_EXPRESSION))

    def forward(
        self,
        queries: torch.Tensor,
        context: torch.Tensor,
        token_index: torch.Tensor,
        valid: torch.Tensor,
    ) -> HPHOutput:
        """queries (B, P, C') = [feature | rays] at each person's token; context (B, N, C') the
        whole image; token_index (B, P) long row-major token of each slot; valid (B, P) bool."""
        batch, slots = token_index.shape
        rows, cols = token_index // self.grid, token_index % self.grid
        queries = queries + self.cross_queries_x[rows] + self.cross_queries_y[cols]  # (B, P, C')

        # Value embeddings at the tokens of all valid people of the image.
        value_grid = (self.cross_values_x[:, None, :] + self.cross_values_y[None, :, :]).flatten(0, 1)  # (N, C')
        tokens_n = torch.arange(context.shape[1], device=context.device)
        at_person = ((token_index[..., None] == tokens_n) & valid[..., None]).any(dim=1).to(context.dtype)  # (B, N)
        context = context + at_person[..., None] * value_grid.to(context.dtype)  # (B, N, C')

        inits = [self.init_body_pose, self.init_betas, self.init_cam]
        tokens = torch.cat([queries] + [t.expand(batch, slots, -1).to(queries.dtype) for t in inits], dim=-1)
        out = self.transformer(tokens, context, valid)  # (B, P, dim)
        return HPHOutput(
            pose6d=self.decpose(out) + self.init_body_pose,
            betas=self.decshape(out) + self.init_betas,
            cam=self.deccam(out) + self.init_cam,
            expression=self.decexpression(out) + self.init_expression,
            box=self.decbox(out) if self.decbox is not None else None,
        )
