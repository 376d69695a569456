"""Small builders of foxglove-sdk message parts (stamps, colours, poses) from numpy values."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from foxglove.messages import Color, Duration, Point3, Pose, Quaternion, Timestamp, Vector3
from scipy.spatial.transform import Rotation


def timestamp(stamp_ns: int) -> Timestamp:
    """Timestamp from integer nanoseconds (>= 0)."""
    stamp_ns = int(stamp_ns)
    if stamp_ns < 0:
        raise ValueError(f"stamp must be >= 0 ns, got {stamp_ns}")
    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    return Timestamp(sec, nsec)


def duration(duration_ns: int) -> Duration:
    sec, nsec = divmod(int(duration_ns), 1_000_000_000)
    return Duration(sec, nsec)


def color(rgba: Sequence[float]) -> Color:
    r, g, b, a = (float(v) for v in rgba)
    return Color(r=r, g=g, b=b, a=a)


def points3(points: np.ndarray) -> list:
    """(N, 3) array -> list of Point3 (one Python object per point: keep N small or rate-limited)."""
    return [Point3(x=x, y=y, z=z) for x, y, z in np.asarray(points, dtype=np.float64).reshape(-1, 3).tolist()]


def pose(position: Sequence[float] = (0.0, 0.0, 0.0), rotation: np.ndarray | None = None) -> Pose:
    """Pose at ``position`` with orientation of the (3, 3) ``rotation`` matrix (identity if None)."""
    qx, qy, qz, qw = (0.0, 0.0, 0.0, 1.0) if rotation is None else quaternion_xyzw(rotation)
    x, y, z = (float(v) for v in position)
    return Pose(position=Vector3(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def quaternion_xyzw(rotation: np.ndarray) -> tuple:
    """(x, y, z, w) of a (3, 3) rotation matrix, w >= 0."""
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotation must be (3, 3), got {rotation.shape}")
    q = Rotation.from_matrix(rotation).as_quat()
    if q[3] < 0:
        q = -q
    return tuple(float(v) for v in q)
