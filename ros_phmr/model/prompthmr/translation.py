"""Camera-frame translation from PromptHMR's location outputs.

The loc token predicts (px, py) = (u - cx, v - cy) / 1000 of the root and a depth d for a
canonical 1000 px focal length (as inverse depth when the model was trained that way). With
f = fx of the model-input (letterboxed) K:  tx = px * d, ty = py * d, tz = d * f / 1000.
Because K is letterboxed consistently, the result is also the translation in the original
camera's optical frame (x right, y down, z forward, metres).
"""
import torch

CANONICAL_FOCAL = 1000.0
INVERSE_DEPTH_EPS = 1e-6


def decode_translation(offset: torch.Tensor, depth: torch.Tensor, focal: torch.Tensor, inverse_depth: bool) -> torch.Tensor:
    """offset (N, 2), depth (N, 1) raw head outputs (init added), focal (N,) -> translation (N, 3)."""
    d = depth[:, 0]  # (N,)
    if inverse_depth:
        d = 1 / (d + INVERSE_DEPTH_EPS)
    return torch.stack([offset[:, 0] * d, offset[:, 1] * d, d * focal / CANONICAL_FOCAL], dim=-1)
