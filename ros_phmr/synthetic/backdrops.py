"""Random textured backgrounds (torch, batched): smooth colour fields, fine noise, stripes and
checkers, and a floor/wall split, so a detector cannot find people by "anything not flat"."""
from __future__ import annotations

import math

import torch

from . import draws
import torch.nn.functional as F


def _field(batch: int, cells: int, height: int, width: int, generator, device) -> torch.Tensor:
    """(B, 3, H, W) colour noise of ``cells`` x ``cells`` random values, bicubically upsampled."""
    grid = draws.rand(generator, batch, 3, cells, cells, device=device)
    return F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)


def random_backdrops(batch: int, height: int, width: int, generator: torch.Generator,
                     device=None) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1]."""
    def r(*shape):
        return draws.rand(generator, *shape, device=device)

    base = _field(batch, 3, height, width, generator, device)
    detail = _field(batch, 24, height, width, generator, device) - 0.5
    img = base * (0.5 + 0.7 * r(batch, 1, 1, 1)) + detail * 0.35 * r(batch, 1, 1, 1)
    ys = torch.linspace(0, 1, height, device=device).view(1, 1, height, 1)
    xs = torch.linspace(0, 1, width, device=device).view(1, 1, 1, width)
    # Stripes / checkers at random frequency and angle on about half of the images.
    angle = r(batch, 1, 1, 1) * math.pi
    freq = 4 + 40 * r(batch, 1, 1, 1)
    coord = (xs * angle.cos() + ys * angle.sin()) * freq
    stripes = (torch.sin(coord * 2 * math.pi) > 0).float()
    checker = stripes * (torch.sin((xs * -angle.sin() + ys * angle.cos()) * freq * 2 * math.pi) > 0).float()
    pattern = torch.where(r(batch, 1, 1, 1) < 0.5, stripes, checker)
    tint = r(batch, 3, 1, 1)
    use = (r(batch, 1, 1, 1) < 0.5).float() * 0.4 * r(batch, 1, 1, 1)
    img = img * (1 - use) + pattern * tint * use
    # A floor of another colour below a random horizon.
    horizon = 0.3 + 0.5 * r(batch, 1, 1, 1)
    floor = _field(batch, 2, height, width, generator, device) * (0.4 + 0.6 * r(batch, 1, 1, 1))
    below = (ys > horizon).float() * (r(batch, 1, 1, 1) < 0.7).float()
    img = img * (1 - below) + floor * below
    return img.clamp(0, 1)
