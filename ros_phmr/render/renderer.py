"""Shaded mesh pictures: a full render over a background and a translucent overlay on a photo.

Meshes are ``(vertices (V,3), faces (F,3))`` pairs in the camera optical frame (x right, y down,
z forward, metres); ``K`` is the (3,3) pinhole matrix of the target image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .rasterizer import rasterize
from .shading import DEFAULT_LIGHT_DIR, lambert_intensity

# Distinct, mid-bright mannequin colours (RGB in [0, 1]); mesh i gets PALETTE[i % len].
PALETTE = np.array([
    [0.93, 0.55, 0.25],   # orange
    [0.30, 0.70, 0.85],   # sky blue
    [0.62, 0.45, 0.85],   # violet
    [0.45, 0.80, 0.40],   # green
    [0.90, 0.40, 0.55],   # rose
    [0.85, 0.80, 0.35],   # sand
])


@dataclass(frozen=True)
class RenderResult:
    """image (H,W,3) uint8 RGB; mesh_id (H,W) int32 instance map, -1 = background;
    depth (H,W) float32 metres along z, +inf = background."""

    image: np.ndarray
    mesh_id: np.ndarray
    depth: np.ndarray

    def masks(self, count: int) -> np.ndarray:
        """(count, H, W) bool visible-pixel mask of meshes 0..count-1."""
        return self.mesh_id[None] == np.arange(count)[:, None, None]


def _colors(colors, count: int) -> np.ndarray:
    if colors is None:
        return PALETTE[np.arange(count) % len(PALETTE)]
    colors = np.asarray(colors, dtype=np.float64)
    if colors.shape != (count, 3):
        raise ValueError(f"colors must be ({count}, 3) for {count} meshes, got {colors.shape}")
    if colors.max(initial=0.0) > 1.0:
        colors = colors / 255.0
    return np.clip(colors, 0.0, 1.0)


def _background(background, width: int, height: int) -> np.ndarray:
    if background is None:
        return np.full((height, width, 3), 40, dtype=np.uint8)
    bg = np.asarray(background)
    if bg.shape == (3,):
        return np.broadcast_to(bg.astype(np.uint8), (height, width, 3)).copy()
    if bg.shape != (height, width, 3):
        raise ValueError(f"background must be an RGB colour or ({height}, {width}, 3), got {bg.shape}")
    return bg.astype(np.uint8, copy=True)


def _shaded_colors(fragments, meshes, K, colors, light_dir, ambient) -> np.ndarray:
    """(H, W, 3) float RGB in [0,1] of the visible meshes (undefined on background)."""
    intensity = lambert_intensity(fragments, meshes, K, light_dir=light_dir, ambient=ambient)
    base = colors[np.maximum(fragments.mesh_id, 0)]               # (H, W, 3)
    return base * intensity[..., None]


def render_meshes(meshes: Sequence[tuple], K: np.ndarray, width: int, height: int,
                  colors: Optional[np.ndarray] = None, background=None,
                  light_dir: np.ndarray = DEFAULT_LIGHT_DIR, ambient: float = 0.3) -> RenderResult:
    """Render ``meshes`` with Lambert shading, one colour per mesh (``colors`` (M,3) in [0,1] or
    0..255; default PALETTE), over ``background`` (None = dark grey, an RGB triple, or an
    (H,W,3) uint8 image)."""
    fragments = rasterize(meshes, K, width, height)
    image = _background(background, fragments.mesh_id.shape[1], fragments.mesh_id.shape[0])
    covered = fragments.covered
    if covered.any():
        rgb = _shaded_colors(fragments, meshes, K, _colors(colors, len(meshes)), light_dir, ambient)
        image[covered] = np.round(rgb[covered] * 255.0).astype(np.uint8)
    return RenderResult(image=image, mesh_id=fragments.mesh_id, depth=fragments.depth)


def overlay_meshes(image: np.ndarray, meshes: Sequence[tuple], K: np.ndarray, alpha: float = 0.6,
                   colors: Optional[np.ndarray] = None,
                   light_dir: np.ndarray = DEFAULT_LIGHT_DIR) -> np.ndarray:
    """Blend shaded meshes onto an RGB uint8 ``image`` (H,W,3) with opacity ``alpha`` in [0,1];
    returns a new (H,W,3) uint8 image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    height, width = image.shape[:2]
    fragments = rasterize(meshes, K, width, height)
    out = image.copy()
    covered = fragments.covered
    if covered.any():
        rgb = _shaded_colors(fragments, meshes, K, _colors(colors, len(meshes)), light_dir, 0.3)
        blended = (1.0 - alpha) * image[covered] + alpha * rgb[covered] * 255.0
        out[covered] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out
