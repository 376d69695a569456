"""Scripted, plausible body motions: a walking gait on a closed path, and turning while waving.

Angles are built in the SMPL-X canonical frame (x = the body's left, y up, z forward), where each
``body_pose`` rotation acts in its parent's rest frame and the rest pose is a T-pose (arms along
+x / -x). Signs used below (checked on the kinematics, not guessed):
* hip / knee about x: a negative angle swings the leg forward, a positive knee angle bends it;
* shoulder about z: -angle lowers the left arm, +angle lowers the right arm;
* elbow about y: -angle bends the left forearm forward, +angle the right one;
* elbow about z: -90 deg turns the right forearm perpendicular to the upper arm, upwards.

Everything is a pure function of time so any frame can be produced directly (random access).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

# body_pose row of each SMPL-X joint (joint index - 1).
L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = 0, 1, 2, 3, 4, 5, 6, 7, 8
NECK, HEAD = 11, 14
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 15, 16, 17, 18
NUM_BODY_JOINTS = 21

ARMS_DOWN_DEG = 72.0      # from T-pose towards the thighs


def _rot(axis: str, deg) -> np.ndarray:
    """(3,3) rotation about a canonical axis by ``deg`` degrees."""
    return Rotation.from_euler(axis, float(deg), degrees=True).as_matrix()


def _relaxed_pose() -> np.ndarray:
    """(21,3,3) standing pose: arms down along the body, slightly bent elbows."""
    pose = np.tile(np.eye(3), (NUM_BODY_JOINTS, 1, 1))
    pose[L_SHOULDER] = _rot("z", -ARMS_DOWN_DEG)
    pose[R_SHOULDER] = _rot("z", ARMS_DOWN_DEG)
    pose[L_ELBOW] = _rot("y", -12.0)
    pose[R_ELBOW] = _rot("y", 12.0)
    return pose


def walking_pose(phase: float, hip_deg: float = 22.0, arm_deg: float = 20.0) -> np.ndarray:
    """(21,3,3) body pose at gait ``phase`` (radians, 2 pi per stride of two steps).

    The left leg is forward when sin(phase) > 0; arms swing against the legs; the knee of the
    swinging leg bends most while it moves forward.
    """
    s, c = np.sin(phase), np.cos(phase)
    pose = _relaxed_pose()
    pose[L_HIP] = _rot("x", -hip_deg * s)
    pose[R_HIP] = _rot("x", hip_deg * s)
    pose[L_KNEE] = _rot("x", 6.0 + 40.0 * max(c, 0.0) ** 1.5)
    pose[R_KNEE] = _rot("x", 6.0 + 40.0 * max(-c, 0.0) ** 1.5)
    pose[L_ANKLE] = _rot("x", -6.0 * s)
    pose[R_ANKLE] = _rot("x", 6.0 * s)
    pose[SPINE1] = _rot("x", 3.0) @ _rot("y", 4.0 * s)             # slight lean, counter-twist
    pose[SPINE3] = _rot("y", -4.0 * s)
    pose[L_SHOULDER] = _rot("x", arm_deg * s) @ _rot("z", -ARMS_DOWN_DEG)
    pose[R_SHOULDER] = _rot("x", -arm_deg * s) @ _rot("z", ARMS_DOWN_DEG)
    pose[L_ELBOW] = _rot("y", -(15.0 + 15.0 * max(-s, 0.0)))
    pose[R_ELBOW] = _rot("y", 15.0 + 15.0 * max(s, 0.0))
    return pose


def waving_pose(t: float, wave_hz: float = 1.6, sway_deg: float = 3.0) -> np.ndarray:
    """(21,3,3) standing pose at time ``t`` (s) with the right hand waving above the shoulder."""
    pose = _relaxed_pose()
    w = np.sin(2.0 * np.pi * wave_hz * t)
    pose[R_SHOULDER] = _rot("y", 20.0) @ _rot("z", -25.0)          # upper arm a bit up and forward
    pose[R_ELBOW] = _rot("z", -65.0 + 28.0 * w)                      # forearm ~vertical, waving sideways
    sway = sway_deg * np.sin(2.0 * np.pi * 0.4 * t)
    pose[L_HIP] = _rot("z", -sway)
    pose[R_HIP] = _rot("z", -sway)
    pose[SPINE2] = _rot("z", 0.5 * sway)
    pose[HEAD] = _rot("x", 4.0 * np.sin(2.0 * np.pi * 0.3 * t))
    return pose


@dataclass(frozen=True)
class EllipseWalk:
    """Walk around an ellipse on the floor (world x forward from the camera, y left), at constant
    speed; the gait phase follows the distance walked so feet do not slide."""

    center: tuple            # (x, y) metres
    radii: tuple             # (along x, along y) metres
    speed: float             # m/s
    direction: int           # +1 counter-clockwise seen from above, -1 clockwise
    start_angle: float       # radians on the ellipse at t = 0
    stride: float = 1.4      # metres per gait cycle (two steps)

    def _angle_at_distance(self, distance: float) -> float:
        theta = np.linspace(0.0, 2.0 * np.pi, 721)
        dx = -self.radii[0] * np.sin(theta)
        dy = self.radii[1] * np.cos(theta)
        seg = np.hypot(dx, dy) * (theta[1] - theta[0])
        arc = np.concatenate([[0.0], np.cumsum(0.5 * (seg[1:] + seg[:-1]))])   # arc length from 0
        start = np.interp(self.start_angle % (2 * np.pi), theta, arc)
        s = (start + self.direction * distance) % arc[-1]
        return float(np.interp(s, arc, theta))

    def state(self, t: float):
        """Returns (position (2,), heading radians in the world, body_pose (21,3,3)) at time ``t``."""
        distance = self.speed * t
        theta = self._angle_at_distance(distance)
        position = np.array([self.center[0] + self.radii[0] * np.cos(theta),
                             self.center[1] + self.radii[1] * np.sin(theta)])
        tangent = self.direction * np.array([-self.radii[0] * np.sin(theta), self.radii[1] * np.cos(theta)])
        heading = float(np.arctan2(tangent[1], tangent[0]))
        return position, heading, walking_pose(2.0 * np.pi * distance / self.stride)


@dataclass(frozen=True)
class TurnAndWave:
    """Stand on one spot, turn back and forth around a mean heading, and wave."""

    position: tuple          # (x, y) metres
    mean_heading: float      # radians in the world (pi = facing the camera)
    turn_deg: float = 60.0
    turn_period: float = 6.0
    wave_hz: float = 1.6

    def state(self, t: float):
        heading = self.mean_heading + np.radians(self.turn_deg) * np.sin(2.0 * np.pi * t / self.turn_period)
        return np.asarray(self.position, dtype=np.float64), float(heading), waving_pose(t, self.wave_hz)
