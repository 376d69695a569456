"""A static camera standing on the floor of a room, looking forward and slightly down.

World frame (REP-103): x forward from the camera, y left, z up, floor at z = 0. Camera frame:
the ROS optical frame (x right, y down, z forward), the frame bodies are expressed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Optical axes expressed in a level camera's world axes: optical x = -world y, y = -world z, z = world x.
_LEVEL_WORLD_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0],
                                      [-1.0, 0.0, 0.0],
                                      [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class CameraRig:
    """Camera at ``height`` metres above the world origin, pitched down by ``pitch_deg``."""

    height: float = 1.4
    pitch_deg: float = 8.0

    @property
    def world_from_camera(self) -> np.ndarray:
        """(3,3) rotation taking optical-frame vectors to world vectors."""
        p = np.radians(self.pitch_deg)
        # Pitch down = rotation about world y (left axis) by +p tilts the forward axis towards -z.
        pitch = np.array([[np.cos(p), 0.0, np.sin(p)],
                          [0.0, 1.0, 0.0],
                          [-np.sin(p), 0.0, np.cos(p)]])
        return pitch @ _LEVEL_WORLD_FROM_OPTICAL

    @property
    def center(self) -> np.ndarray:
        """(3,) camera position in the world."""
        return np.array([0.0, 0.0, self.height])

    def world_to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> optical-frame points."""
        return (np.asarray(points_world) - self.center) @ self.world_from_camera

    @property
    def up_in_camera(self) -> np.ndarray:
        """(3,) world up (+z) expressed in the optical frame."""
        return self.world_from_camera[2]
