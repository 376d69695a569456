"""Random, joint-limit-aware SMPL-X body poses for synthetic training data (torch, any device).

Each body joint gets per-axis Euler limits in the SMPL-X canonical frame (x = the body's left,
y up, z forward; rest pose = T-pose). Sign conventions are those checked in ``motion.py``:
a negative hip angle about x swings the leg forward, a positive knee angle bends it, -z lowers
the left arm and +z the right one, -y bends the left elbow forward and +y the right one.

A pose is a relaxed standing pose plus Gaussian deviations scaled by a per-person "activity",
clipped to the limits, plus (for some people) a walking gait: varied but plausible bodies.
"""
from __future__ import annotations

import math

import torch

from . import draws

NUM_BODY_JOINTS = 21

# (x, y, z) limits in degrees, one row per body_pose joint (SMPL-X joint index - 1).
_LIMITS_DEG = [
    [(-95, 25), (-30, 30), (-10, 40)],     # 0 left hip
    [(-95, 25), (-30, 30), (-40, 10)],     # 1 right hip
    [(-10, 35), (-25, 25), (-15, 15)],     # 2 spine1
    [(0, 130), (-3, 3), (-3, 3)],          # 3 left knee
    [(0, 130), (-3, 3), (-3, 3)],          # 4 right knee
    [(-10, 25), (-20, 20), (-12, 12)],     # 5 spine2
    [(-25, 35), (-10, 10), (-10, 10)],     # 6 left ankle
    [(-25, 35), (-10, 10), (-10, 10)],     # 7 right ankle
    [(-10, 25), (-20, 20), (-12, 12)],     # 8 spine3
    [(-5, 5), (-5, 5), (-5, 5)],           # 9 left foot
    [(-5, 5), (-5, 5), (-5, 5)],           # 10 right foot
    [(-25, 35), (-30, 30), (-15, 15)],     # 11 neck
    [(-10, 10), (-10, 10), (-10, 10)],     # 12 left collar
    [(-10, 10), (-10, 10), (-10, 10)],     # 13 right collar
    [(-25, 30), (-45, 45), (-20, 20)],     # 14 head
    [(-50, 50), (-100, 35), (-85, 45)],    # 15 left shoulder
    [(-50, 50), (-35, 100), (-45, 85)],    # 16 right shoulder
    [(-5, 5), (-140, 0), (-20, 20)],       # 17 left elbow
    [(-5, 5), (0, 140), (-20, 20)],        # 18 right elbow
    [(-35, 35), (-20, 20), (-40, 40)],     # 19 left wrist
    [(-35, 35), (-20, 20), (-40, 40)],     # 20 right wrist
]

# Relaxed standing pose (degrees): arms down, elbows slightly bent, knees soft.
_RELAXED_DEG = torch.zeros(NUM_BODY_JOINTS, 3)
_RELAXED_DEG[15, 2], _RELAXED_DEG[16, 2] = -72.0, 72.0
_RELAXED_DEG[17, 1], _RELAXED_DEG[18, 1] = -12.0, 12.0
_RELAXED_DEG[3, 0], _RELAXED_DEG[4, 0] = 5.0, 5.0
L_HIP, R_HIP, L_KNEE, R_KNEE, L_SHOULDER, R_SHOULDER = 0, 1, 3, 4, 15, 16


def joint_limits(device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, high) each (21, 3) radians."""
    lim = torch.tensor(_LIMITS_DEG, dtype=torch.float32, device=device)   # (21, 3, 2)
    return torch.deg2rad(lim[..., 0]), torch.deg2rad(lim[..., 1])


def euler_xyz_to_matrix(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3) angles (radians) -> (..., 3, 3) rotation Rz @ Ry @ Rx."""
    c, s = angles.cos(), angles.sin()
    one, zero = torch.ones_like(c[..., 0]), torch.zeros_like(c[..., 0])
    rx = torch.stack([one, zero, zero, zero, c[..., 0], -s[..., 0], zero, s[..., 0], c[..., 0]], -1)
    ry = torch.stack([c[..., 1], zero, s[..., 1], zero, one, zero, -s[..., 1], zero, c[..., 1]], -1)
    rz = torch.stack([c[..., 2], -s[..., 2], zero, s[..., 2], c[..., 2], zero, zero, zero, one], -1)
    shape = angles.shape[:-1] + (3, 3)
    return rz.view(shape) @ ry.view(shape) @ rx.view(shape)


def relaxed_body_pose(device=None) -> torch.Tensor:
    """(21, 3, 3) the relaxed standing pose every random pose deviates from: the "mean pose"
    baseline of an estimate on this data."""
    return euler_xyz_to_matrix(torch.deg2rad(_RELAXED_DEG.to(device)))


def random_body_pose(count: int, generator: torch.Generator, device=None,
                     walk_fraction: float = 0.4) -> torch.Tensor:
    """(count, 21, 3, 3) random body poses within the joint limits.

    Values are drawn from ``generator`` (any device) and moved to ``device``.
    """
    low, high = joint_limits(device)
    span = high - low                                                         # (21, 3)
    relaxed = torch.deg2rad(_RELAXED_DEG.to(device))
    activity = draws.rand(generator, count, 1, 1, device=device) * 1.1 + 0.15
    noise = draws.randn(generator, count, NUM_BODY_JOINTS, 3, device=device)
    angles = relaxed + noise * span * 0.22 * activity                        # (count, 21, 3)
    # A walking gait for some: legs swing against each other, arms against the legs.
    walking = (draws.rand(generator, count, device=device) < walk_fraction).float()
    phase = draws.rand(generator, count, device=device) * 2 * math.pi
    swing = walking * torch.deg2rad(torch.tensor(25.0, device=device)) * phase.sin()
    bend = walking * torch.deg2rad(torch.tensor(40.0, device=device))
    angles[:, L_HIP, 0] -= swing
    angles[:, R_HIP, 0] += swing
    angles[:, L_KNEE, 0] += bend * phase.cos().clamp(min=0)
    angles[:, R_KNEE, 0] += bend * (-phase.cos()).clamp(min=0)
    angles[:, L_SHOULDER, 1] -= 0.8 * swing
    angles[:, R_SHOULDER, 1] -= 0.8 * swing
    angles = torch.maximum(torch.minimum(angles, high), low)
    return euler_xyz_to_matrix(angles)
