"""CLIP text transformer with the OpenCLIP state-dict layout (``token_embedding.weight``,
``positional_embedding``, ``transformer.resblocks.N.{ln_1,attn,ln_2,mlp.c_fc,mlp.c_proj}``,
``ln_final``, ``text_projection``, ``logit_scale``).

PromptHMR's checkpoint stores OpenCLIP ``ViT-L-14-quickgelu`` (MetaCLIP) without its visual
tower; this module reproduces ``encode_text``: causal pre-norm transformer with QuickGELU MLPs,
final LayerNorm, the feature at the end-of-text token (the largest id in each row), then the
projection. Sizes come from the weights; heads are 64 wide as in every OpenCLIP text tower.
"""
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn
from torch.nn import functional as F

HEAD_WIDTH = 64
LAYER_NORM_EPS = 1e-5  # OpenCLIP uses nn.LayerNorm defaults


@dataclass(frozen=True)
class ClipTextDims:
    vocab_size: int
    context_length: int
    width: int
    layers: int
    heads: int
    output_dim: int

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], prefix: str = "") -> "ClipTextDims":
        """Sizes of the text tower whose keys start with ``prefix``."""
        key = prefix + "token_embedding.weight"
        if key not in state_dict:
            raise ValueError(f"no CLIP text tower in this state dict: key {key!r} is missing")
        vocab_size, width = state_dict[key].shape
        layer_ids = {
            int(k[len(prefix) + len("transformer.resblocks."):].split(".", 1)[0])
            for k in state_dict
            if k.startswith(prefix + "transformer.resblocks.")
        }
        if not layer_ids or layer_ids != set(range(len(layer_ids))):
            raise ValueError(f"CLIP text blocks under {prefix!r}transformer.resblocks. are missing or not numbered 0..N-1")
        if width % HEAD_WIDTH:
            raise ValueError(f"CLIP text width {width} is not a multiple of the head width {HEAD_WIDTH}")
        context_length = state_dict[prefix + "positional_embedding"].shape[0]
        output_dim = state_dict[prefix + "text_projection"].shape[1]
        return cls(int(vocab_size), int(context_length), int(width), len(layer_ids), int(width) // HEAD_WIDTH, int(output_dim))


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x): the activation OpenAI CLIP and the '-quickgelu' models were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _FeedForward(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.gelu = QuickGELU()
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class CausalSelfAttention(nn.Module):
    """nn.MultiheadAttention's parameter layout (fused ``in_proj_weight``), causal, via SDPA."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape  # (N, L, W)
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (N, L, 3W)
        q, k, v = qkv.reshape(batch, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (N, H, L, W/H)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, width))


class _ResidualBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.mlp = _FeedForward(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _Blocks(nn.Module):
    def __init__(self, dims: ClipTextDims):
        super().__init__()
        self.resblocks = nn.ModuleList(_ResidualBlock(dims.width, dims.heads) for _ in range(dims.layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class ClipTextTransformer(nn.Module):
    """token ids (N, L) -> unnormalised text features (N, output_dim), as OpenCLIP ``encode_text``."""

    def __init__(self, dims: ClipTextDims):
        super().__init__()
        self.dims = dims
        self.token_embedding = nn.Embedding(dims.vocab_size, dims.width)
        self.positional_embedding = nn.Parameter(torch.zeros(dims.context_length, dims.width))
        self.transformer = _Blocks(dims)
        self.ln_final = nn.LayerNorm(dims.width, eps=LAYER_NORM_EPS)
        self.text_projection = nn.Parameter(torch.zeros(dims.width, dims.output_dim))
        self.logit_scale = nn.Parameter(torch.zeros(()))  # image-text contrastive scale; unused here

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids.dim() != 2 or token_ids.shape[1] != self.dims.context_length:
            raise ValueError(
                f"expected token ids of shape (N, {self.dims.context_length}), got {tuple(token_ids.shape)}"
            )
        x = self.token_embedding(token_ids) + self.positional_embedding  # (N, L, W)
        x = self.ln_final(self.transformer(x))  # (N, L, W)
        end_of_text = token_ids.argmax(dim=-1)  # (N,) the end token has the largest id
        pooled = x[torch.arange(x.shape[0], device=x.device), end_of_text]  # (N, W)
        return pooled @ self.text_projection  # (N, output_dim)
