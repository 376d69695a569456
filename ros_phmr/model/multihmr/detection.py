"""CenterNet-style detection on patch tokens: each person is the token holding its head joint.

The released code thresholds a 3x3 max-pooled score map with ``torch.where``, which gives a
data-dependent number of people. Here the peaks are ranked with a top-k into a fixed number of
slots (``max_people``) with a validity mask, then put back in token order, so the kept people
and their order equal the released code's whenever no more than ``max_people`` pass.

Our compact models can also keep two people whose heads fall in neighbouring tokens, which the
3x3 max-pool cannot: each token votes for a head position (its offset), and a token beside a
higher one stays when it points at another head (``peak_scores`` with heads; trained by det_votes).
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from ros_phmr.model.backbone import PATCH_SIZE

SCORE_CLAMP = 1e-4
MAX_BOX_LOG = 2.0  # box edges at most e^2 image sizes from their token: a finite box, always


def score_mlp(dim: int, out_features: int) -> nn.Sequential:
    """Linear -> ReLU -> Linear (released keys '.0.' and '.2.')."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out_features))


def detection_scores(logits: torch.Tensor) -> torch.Tensor:
    """(B, N, 1) logits -> (B, N) probabilities clamped to [1e-4, 1 - 1e-4] as released."""
    return logits[..., 0].sigmoid().clamp(SCORE_CLAMP, 1.0 - SCORE_CLAMP)


def peak_scores(scores: torch.Tensor, rows: int, cols: int, kernel: int = 3,
                heads: Optional[torch.Tensor] = None, radius: float = 0.0, min_score: float = 0.0) -> torch.Tensor:
    """(B, N) scores -> (B, N) with every suppressed token set to 0.

    Without ``heads``: every non-maximum of its kernel x kernel window is suppressed; plateaus
    keep all their tokens, like the released max-pool 'NMS'. kernel 1 disables it.
    With ``heads`` (B, N, 2), each token's decoded head pixel, and ``radius`` (pixels): a token
    beside a strictly higher one of its window stays only if it scores at least ``min_score`` and
    every such higher token points at a head at least ``radius`` from its own. So two people whose
    heads fall in neighbouring tokens both stay, while a person's neighbouring tokens, which point at
    the same head or are unsure, do not (an infinite radius is the plain rule).
    """
    if kernel < 1:
        raise ValueError(f"NMS kernel must be >= 1, got {kernel}")
    score_map = scores.view(-1, 1, rows, cols)
    if heads is None or radius <= 0:
        pooled = F.max_pool2d(score_map, kernel, stride=1, padding=kernel // 2)[..., :rows, :cols]
        return (score_map * (pooled == score_map).to(score_map.dtype)).view(scores.shape)
    pad = kernel // 2
    own = heads.float().view(-1, rows, cols, 2).permute(0, 3, 1, 2)             # (B, 2, R, C)
    padded_scores = F.pad(score_map, (pad, pad, pad, pad), value=-1.0)          # (B, 1, R+2p, C+2p)
    padded_heads = F.pad(own, (pad, pad, pad, pad))
    unsure = score_map < min_score                                              # (B, 1, R, C)
    suppressed = torch.zeros_like(unsure)
    for dy in range(kernel):
        for dx in range(kernel):
            if dy == pad and dx == pad:
                continue
            higher = padded_scores[..., dy:dy + rows, dx:dx + cols] > score_map
            gap = (padded_heads[..., dy:dy + rows, dx:dx + cols] - own).square().sum(1, keepdim=True)
            suppressed = suppressed | (higher & ((gap < radius * radius) | unsure))
    return (score_map * (~suppressed).to(score_map.dtype)).view(scores.shape)


@dataclass
class Detections:
    """Fixed-size person slots per image, valid slots first in row-major token order."""

    token_index: torch.Tensor  # (B, P) long, n = row * cols + col
    scores: torch.Tensor  # (B, P) detection probability (0 where not a peak)
    valid: torch.Tensor  # (B, P) bool: score >= threshold
    num_candidates: torch.Tensor  # (B,) long: peaks >= threshold before the max_people cap


def select_detections(peaks: torch.Tensor, threshold: float, max_people: int) -> Detections:
    """Keep up to ``max_people`` peaks >= threshold per image. peaks (B, N) from peak_scores."""
    if not 1 <= max_people <= peaks.shape[1]:
        raise ValueError(f"max_people must be in [1, {peaks.shape[1]}], got {max_people}")
    top_scores, top_index = peaks.topk(max_people, dim=1)  # (B, P), best first
    valid = top_scores >= threshold
    # Back to token order (valid first), matching the released torch.where enumeration.
    order = torch.where(valid, top_index, top_index + peaks.shape[1]).argsort(dim=1)
    return Detections(
        token_index=top_index.gather(1, order),
        scores=top_scores.gather(1, order),
        valid=valid.gather(1, order),
        num_candidates=(peaks >= threshold).sum(dim=1),
    )


def token_centres(token_index: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, P) row-major token index -> (B, P, 2) pixel (u, v) of the token's centre."""
    xy = torch.stack([token_index % grid, token_index // grid], dim=-1)
    return (xy.float() + 0.5) * PATCH_SIZE


def decode_person_boxes(raw: torch.Tensor, token_index: torch.Tensor, grid: int) -> torch.Tensor:
    """Box head output -> xyxy boxes in input pixels. raw (B, P, 4): log of the distances from the
    person's token centre to the left, top, right and bottom edges, in units of the input size
    (grid * PATCH_SIZE px), so one head serves any input size and every box has positive extent."""
    size = grid * PATCH_SIZE
    centre = token_centres(token_index, grid)  # (B, P, 2)
    dist = raw.float().clamp(max=MAX_BOX_LOG).exp() * size  # (B, P, 4)
    return torch.cat([centre - dist[..., :2], centre + dist[..., 2:]], dim=-1)

