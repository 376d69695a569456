"""A room behind the people: a tiled floor and a back wall, ray-cast per pixel.

Why textured and not flat: a detector trained or tested on the synthetic frames should not be able
to find people just because everything else is one colour, and the floor's perspective makes the
depth of the scene readable in a preview picture.
"""
from __future__ import annotations

import numpy as np

from .camera_rig import CameraRig

FLOOR_TILE = 0.6                                  # metres per checker tile
FLOOR_COLORS = np.array([[0.72, 0.68, 0.60], [0.55, 0.52, 0.47]])
WALL_TOP = np.array([0.80, 0.84, 0.88])
WALL_BOTTOM = np.array([0.58, 0.64, 0.70])
SKIRTING = np.array([0.35, 0.33, 0.32])


def render_room(K: np.ndarray, width: int, height: int, rig: CameraRig,
                wall_distance: float = 8.0, wall_height: float = 3.0) -> np.ndarray:
    """(H, W, 3) uint8 RGB view of the floor (z = 0) and a wall at world x = ``wall_distance``."""
    K = np.asarray(K, dtype=np.float64)
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    rays_cam = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(K).T       # (H, W, 3)
    rays = rays_cam @ rig.world_from_camera.T                                          # world dirs
    origin = rig.center
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(rays[..., 2] < 0, -origin[2] / rays[..., 2], np.inf)
        t_wall = np.where(rays[..., 0] > 0, (wall_distance - origin[0]) / rays[..., 0], np.inf)
    hit_floor = t_floor < t_wall
    t = np.minimum(t_floor, t_wall)
    t = np.where(np.isfinite(t), t, 0.0)
    hit = origin + rays * t[..., None]                                                  # (H, W, 3)

    # Floor: checker tiles, darkening with distance.
    tiles = (np.floor(hit[..., 0] / FLOOR_TILE) + np.floor(hit[..., 1] / FLOOR_TILE)).astype(np.int64) % 2
    floor = FLOOR_COLORS[tiles] * np.clip(1.05 - 0.05 * t, 0.6, 1.0)[..., None]

    # Wall: vertical gradient, faint vertical panels, dark skirting board near the floor.
    z = np.clip(hit[..., 2] / wall_height, 0.0, 1.0)[..., None]
    wall = WALL_BOTTOM * (1.0 - z) + WALL_TOP * z
    panel = (np.floor(hit[..., 1] / 1.2).astype(np.int64) % 2)[..., None]
    wall = wall * (0.96 + 0.04 * panel)
    wall = np.where((hit[..., 2] < 0.12)[..., None], SKIRTING, wall)

    rgb = np.where(hit_floor[..., None], floor, wall)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
