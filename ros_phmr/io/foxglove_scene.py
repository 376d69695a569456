"""Body meshes as ``foxglove_msgs/SceneUpdate`` (ROS 2) for recordings.

One SceneEntity per body (id ``<kind>_<body id>``) with one indexed TriangleListPrimitive in the
camera optical frame; colour by body id, style by kind so ground truth and estimates of the same
person are told apart when shown together.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from ..render import PALETTE
from .ros2_messages import duration_from_ns, stamp_from_ns

# Per kind: how far the id colour is lifted towards white, and its opacity.
KIND_STYLES = {
    "ground_truth": (0.0, 0.5),
    "estimate": (0.3, 1.0),
}


def body_color(kind: str, body_id: int) -> Tuple[float, float, float, float]:
    """RGBA in [0, 1] for a body of ``kind`` ('ground_truth' or 'estimate') and integer id."""
    if kind not in KIND_STYLES:
        raise ValueError(f"kind must be one of {sorted(KIND_STYLES)}, got {kind!r}")
    lift, alpha = KIND_STYLES[kind]
    rgb = PALETTE[int(body_id) % len(PALETTE)]
    rgb = rgb + lift * (1.0 - rgb)
    return float(rgb[0]), float(rgb[1]), float(rgb[2]), alpha


def scene_update_message(typestore, body_ids: Sequence[int], vertices: np.ndarray, faces: np.ndarray,
                         stamp_ns: int, frame_id: str, kind: str = "ground_truth",
                         lifetime_ns: int = 0):
    """foxglove_msgs/SceneUpdate with one mesh entity per body.

    body_ids (N,) ints; vertices (N, V, 3) metres in ``frame_id``; faces (F, 3) shared topology.
    ``lifetime_ns`` = 0 keeps an entity until replaced; a few frame periods lets lost bodies vanish.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 3 or vertices.shape[2] != 3 or len(vertices) != len(body_ids):
        raise ValueError(f"vertices must be (N, V, 3) with N = {len(body_ids)} body ids, got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[1]):
        raise ValueError(f"face indices out of range for {vertices.shape[1]} vertices")
    T = typestore.types
    Point = T["geometry_msgs/msg/Point"]
    identity = T["geometry_msgs/msg/Pose"](
        position=Point(x=0.0, y=0.0, z=0.0),
        orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
    indices = faces.astype(np.uint32).reshape(-1)                         # (3F,)
    stamp = stamp_from_ns(typestore, stamp_ns)
    lifetime = duration_from_ns(typestore, lifetime_ns)
    entities = []
    for body_id, body_vertices in zip(body_ids, vertices):
        r, g, b, a = body_color(kind, body_id)
        mesh = T["foxglove_msgs/msg/TriangleListPrimitive"](
            pose=identity, points=[Point(x=x, y=y, z=z) for x, y, z in body_vertices.tolist()],
            color=T["foxglove_msgs/msg/Color"](r=r, g=g, b=b, a=a), colors=[], indices=indices)
        metadata = [T["foxglove_msgs/msg/KeyValuePair"](key="kind", value=kind),
                    T["foxglove_msgs/msg/KeyValuePair"](key="body_id", value=str(int(body_id)))]
        entities.append(T["foxglove_msgs/msg/SceneEntity"](
            timestamp=stamp, frame_id=frame_id, id=f"{kind}_{int(body_id)}", lifetime=lifetime,
            frame_locked=False, metadata=metadata, arrows=[], cubes=[], spheres=[], cylinders=[],
            lines=[], triangles=[mesh], texts=[], models=[]))
    return T["foxglove_msgs/msg/SceneUpdate"](deletions=[], entities=entities)
