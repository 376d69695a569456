"""Frame transforms of the live view: where the camera is, and a ``body_<id>`` frame per person.

Frames: ``world`` follows REP-103 (x forward, y left, z up); the camera optical frame (x right,
y down, z forward) sits at its origin, level, unless a camera pose is given. ``body_b<id>``
(REP-155 body id ``b<id>``, so the name matches the node's TF) sits at the pelvis, oriented like
the SMPL-X root, parent = the optical frame.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from foxglove.messages import FrameTransform, FrameTransforms, Quaternion, Vector3
from scipy.spatial.transform import Rotation

from ..people import PersonEstimate
from .messages import quaternion_xyzw, timestamp

WORLD_FRAME = "world"
# Optical axes in a level camera's REP-103 axes: optical x = -y, optical y = -z, optical z = x.
LEVEL_WORLD_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def body_frame(track_id: int) -> str:
    return f"body_b{int(track_id)}"


def _transform(stamp, parent: str, child: str, rotation: np.ndarray, translation) -> FrameTransform:
    qx, qy, qz, qw = quaternion_xyzw(rotation)
    x, y, z = (float(v) for v in translation)
    return FrameTransform(timestamp=stamp, parent_frame_id=parent, child_frame_id=child,
                          translation=Vector3(x=x, y=y, z=z), rotation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def frame_transforms(people: Sequence[PersonEstimate], stamp_ns: int, camera_frame: str,
                     world_from_camera: Optional[np.ndarray] = None,
                     camera_position: Sequence[float] = (0.0, 0.0, 0.0)) -> FrameTransforms:
    """world -> camera, then camera -> body_b<id> for every tracked person (untracked: none)."""
    stamp = timestamp(stamp_ns)
    rotation = LEVEL_WORLD_FROM_OPTICAL if world_from_camera is None else np.asarray(world_from_camera)
    transforms = [_transform(stamp, WORLD_FRAME, camera_frame, rotation, camera_position)]
    for person in people:
        if person.track_id < 0:
            continue
        root = Rotation.from_rotvec(np.asarray(person.global_orient, dtype=np.float64)).as_matrix()
        transforms.append(_transform(stamp, camera_frame, body_frame(person.track_id), root, person.joints_3d[0]))
    return FrameTransforms(transforms=transforms)
