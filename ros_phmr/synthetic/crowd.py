"""Random multi-person scene layouts: camera, where each person stands, and how it is turned.

Camera: pinhole with horizontal field of view in [50, 70] deg over the image content, principal
point at the centre, optionally with a letterbox band (4:3 or 16:9 content inside a square
canvas, as the pipeline's letterbox produces). People: 1..max_people upright mannequins on a
floor, pelvis depth 1.8-9 m, spread across the view (overlaps happen often: "crowd" scenes put
people next to and behind each other), turned to any heading, leaning a little; the camera
looks slightly up or down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import draws

from .poses import euler_xyz_to_matrix

REST_PELVIS_HEIGHT_M = 0.95      # synthetic body: pelvis 0.95 m above the soles in the rest pose
UPRIGHT = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))   # y-up body in the y-down camera frame


@dataclass
class Layout:
    """B images with up to P people each (slots beyond ``count`` unused)."""

    K: torch.Tensor              # (B, 3, 3)
    content: torch.Tensor        # (B, 4) long: x0, y0, x1, y1 (exclusive) of the image content
    valid: torch.Tensor          # (B, P) bool
    global_orient: torch.Tensor  # (B, P, 3, 3) camera frame
    pelvis: torch.Tensor         # (B, P, 3) wanted pelvis position, camera frame


def sample_layout(batch: int, max_people: int, height: int, width: int, generator: torch.Generator,
                  device=None, letterbox: bool = False, min_people: int = 1,
                  depth_range=(1.8, 9.0), hfov_range=(50.0, 70.0)) -> Layout:
    """Random layouts; ``letterbox`` puts 4:3 / 16:9 content bands into a square canvas."""
    def r(*shape):
        return draws.rand(generator, *shape, device=device)

    content_w = torch.full((batch,), float(width), device=device)
    content_h = torch.full((batch,), float(height), device=device)
    if letterbox:
        aspect = torch.where(r(batch) < 0.5, 0.75, torch.where(r(batch) < 0.5, 9 / 16, 1.0))
        content_h = torch.round(content_w * aspect)
    hfov = torch.deg2rad(hfov_range[0] + (hfov_range[1] - hfov_range[0]) * r(batch))
    focal = content_w / (2 * torch.tan(hfov / 2))
    K = torch.zeros(batch, 3, 3, device=device)
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, 0, 2] = (width - 1) / 2.0
    K[:, 1, 2] = (height - 1) / 2.0
    K[:, 2, 2] = 1.0
    y0 = torch.floor((height - content_h) / 2).long()
    content = torch.stack([torch.zeros_like(y0), y0, torch.full_like(y0, width), y0 + content_h.long()], -1)

    count = min_people + torch.floor(r(batch) * (max_people - min_people + 1)).long()   # (B,)
    slots = torch.arange(max_people, device=device)
    valid = slots[None] < count[:, None]                                      # (B, P)
    # Depth and lateral position: the pelvis projects inside the content (with margin).
    z = depth_range[0] + (depth_range[1] - depth_range[0]) * r(batch, max_people) ** 1.3
    half_w = (content_w / 2 / focal)[:, None] * 0.9                            # tan of half-width
    x = (2 * r(batch, max_people) - 1) * half_w * z
    crowd = r(batch, 1) < 0.5                                                  # cluster around slot 0
    near0 = x[:, :1] + (2 * r(batch, max_people) - 1) * 0.9
    x = torch.where(crowd, near0, x)
    z = torch.where(crowd, z[:, :1] + (2 * r(batch, max_people) - 1) * 2.0, z).clamp(*depth_range)
    x = x.clamp(-half_w * z, half_w * z)
    # Camera height above the floor and pitch: the pelvis sits at floor + 0.95 m (less when crouched).
    cam_height = 0.9 + 1.0 * r(batch, 1)
    pitch = torch.deg2rad((2 * r(batch) - 1) * 12.0)
    y = (cam_height - REST_PELVIS_HEIGHT_M) + (2 * r(batch, max_people) - 1) * 0.08
    pelvis_level = torch.stack([x, y, z], -1)                                  # (B, P, 3) level camera
    cp, sp = pitch.cos(), pitch.sin()
    zero, one = torch.zeros_like(cp), torch.ones_like(cp)
    tilt = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).view(batch, 1, 3, 3)
    pelvis = (tilt @ pelvis_level[..., None])[..., 0]
    # Orientation: heading about the vertical, small lean, then the camera tilt.
    heading = (2 * r(batch, max_people) - 1) * math.pi
    lean = torch.deg2rad((2 * r(batch, max_people, 2) - 1) * 8.0)
    body_turn = euler_xyz_to_matrix(torch.stack([lean[..., 0], heading, lean[..., 1]], -1))  # canonical frame
    upright = torch.tensor(UPRIGHT, device=device)
    global_orient = tilt @ upright @ body_turn
    return Layout(K=K, content=content, valid=valid, global_orient=global_orient, pelvis=pelvis)
