"""Per-person prompts -> 3 sparse tokens (box top-left, box bottom-right, text) and a dense
mask embedding added to that person's copy of the image tokens.

State-dict layout of PromptHMR's ``prompt_encoder``: ``pe_layer``, ``point_embeddings.{0,1}``,
``not_embeddings`` (the shared "empty" token: missing box, zero-confidence box, missing text),
``mask_downscaling`` + ``no_mask_embed`` (when trained with masks), ``clip_encoder`` (the text
tower, optional here) and ``kpt_embeddings`` / ``not_kpt_embeddings`` (only in checkpoints
trained with keypoint prompts; the released forward never reads them, so neither do we).
"""
from typing import Optional, Sequence

import torch
from torch import nn

from ros_phmr.model.prompthmr.channel_norm import ChannelLayerNorm
from ros_phmr.model.prompthmr.positional import RandomFourierEncoding
from ros_phmr.model.text.text_encoder import CachedTextEncoder

MASK_CHANNELS = 16
NUM_KEYPOINTS = 17
NULL_TEXT = "NULL"


def is_null_text(text: Optional[str]) -> bool:
    """None, '', whitespace or the released sentinel 'NULL' mean "no text prompt"."""
    return text is None or text.strip() == "" or text == NULL_TEXT


class PromptEncoder(nn.Module):
    def __init__(
        self,
        dim: int,
        mask_prompt: bool = True,
        keypoint_prompt: bool = False,
        text_encoder: Optional[CachedTextEncoder] = None,
    ):
        super().__init__()
        self.dim = dim
        self.pe_layer = RandomFourierEncoding(dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(2))
        self.not_embeddings = nn.Embedding(1, dim)
        self.clip_encoder = text_encoder
        if keypoint_prompt:
            self.kpt_embeddings = nn.Embedding(NUM_KEYPOINTS, dim)
            self.not_kpt_embeddings = nn.Embedding(1, dim)
        self.mask_prompt = mask_prompt
        if mask_prompt:
            quarter = MASK_CHANNELS // 4
            self.mask_downscaling = nn.Sequential(
                nn.Conv2d(1, quarter, kernel_size=2, stride=2),
                ChannelLayerNorm(quarter),
                nn.GELU(),
                nn.Conv2d(quarter, MASK_CHANNELS, kernel_size=2, stride=2),
                ChannelLayerNorm(MASK_CHANNELS),
                nn.GELU(),
                nn.Conv2d(MASK_CHANNELS, dim, kernel_size=1),
            )
            self.no_mask_embed = nn.Embedding(1, dim)

    @property
    def has_text(self) -> bool:
        return self.clip_encoder is not None

    def box_tokens(self, boxes: torch.Tensor, image_size: int) -> torch.Tensor:
        """boxes (N, 5) x1, y1, x2, y2 (model-input pixels), confidence -> (N, 2, D).

        Corners are shifted to pixel centres (+0.5), scaled to [0, 1] and Fourier-encoded, the
        learned corner embedding is added, and the result blends towards the empty token as
        the confidence drops (confidence 0 = no box).
        """
        corners = (boxes[:, :4].reshape(-1, 2, 2) + 0.5) / image_size  # (N, 2, 2)
        tokens = self.pe_layer.encode(corners)  # (N, 2, D)
        corner_embed = torch.cat([self.point_embeddings[0].weight, self.point_embeddings[1].weight])  # (2, D)
        tokens = tokens + corner_embed
        conf = boxes[:, 4, None, None]  # (N, 1, 1)
        return tokens * conf + self.not_embeddings.weight * (1 - conf)

    def text_tokens(self, texts: Optional[Sequence[Optional[str]]], count: int) -> torch.Tensor:
        """Per-person strings (None / '' / 'NULL' = none) -> (N, 1, D); ValueError without a text tower."""
        empty = self.not_embeddings.weight.expand(count, -1)  # (N, D)
        if texts is None or all(is_null_text(t) for t in texts):
            return empty[:, None]
        if not self.has_text:
            raise ValueError("text prompts given, but this checkpoint has no CLIP text tower (prompt_encoder.clip_encoder)")
        real = [i for i, t in enumerate(texts) if not is_null_text(t)]
        encoded = self.clip_encoder([texts[i] for i in real]).to(empty.dtype)  # (M, D)
        index = torch.tensor(real, device=empty.device)
        return empty.index_copy(0, index, encoded)[:, None]  # (N, 1, D)

    def mask_embeddings(self, masks: Optional[torch.Tensor], count: int, rows: int, cols: int) -> Optional[torch.Tensor]:
        """masks (N, 1, 4*rows, 4*cols) in {0, 1} or None -> (N, D, rows, cols) or None (no mask branch).

        An all-zero mask means "no mask" and gives the learned ``no_mask_embed`` everywhere.
        """
        if not self.mask_prompt:
            return None
        empty = self.no_mask_embed.weight.reshape(1, -1, 1, 1)  # (1, D, 1, 1)
        if masks is None:
            return empty.expand(count, -1, rows, cols)
        present = (masks.sum(dim=(-1, -2), keepdim=True) > 1e-3).to(masks.dtype)  # (N, 1, 1, 1)
        return self.mask_downscaling(masks) * present + empty * (1 - present)

    def dense_pe(self, rows: int, cols: int) -> torch.Tensor:
        """Positional encoding of the image tokens -> (rows * cols, D)."""
        return self.pe_layer.grid(rows, cols)
