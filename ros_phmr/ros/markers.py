"""visualization_msgs/MarkerArray fields for RViz: one marker per person, coloured by id.

RViz has no indexed-mesh marker, so a mesh marker (TRIANGLE_LIST) repeats each vertex once per
face it belongs to: 62724 points, about 1.5 MB per person and frame, and slow to build in
Python. The default style is therefore the skeleton (LINE_LIST over the 54 bones of the SMPL-X
tree, 108 points). Foxglove users get indexed meshes through the SceneUpdate path instead.

Every array starts with a DELETEALL marker so that people who left the image disappear; each
marker also carries a short lifetime in case the DELETEALL is missed.
"""
from __future__ import annotations

import colorsys
from typing import Optional, Sequence

import numpy as np

from ros_phmr.body.layout import NUM_JOINTS, PARENTS
from ros_phmr.people import PersonEstimate
from ros_phmr.ros.msg_fields import NS_PER_S, header_fields

MARKER_STYLES = ("skeleton", "mesh")
# visualization_msgs/Marker constants (identical in Humble and Jazzy).
LINE_LIST, TRIANGLE_LIST = 5, 11
ADD, DELETEALL = 0, 3
_BONES = np.array([(j, PARENTS[j]) for j in range(1, NUM_JOINTS)], dtype=np.int64)   # (54, 2)
_UNTRACKED_ID_BASE = 1_000_000  # marker ids of untracked people (track_id -1): base + index
_GOLDEN = 0.618033988749895


def id_color(track_id: int) -> tuple:
    """(r, g, b) in [0, 1] for a person id: hues spread by the golden ratio, grey when untracked.

    The same id gets the same colour in every frame and in every node.
    """
    if track_id < 0:
        return (0.6, 0.6, 0.6)
    return colorsys.hsv_to_rgb((track_id * _GOLDEN) % 1.0, 0.75, 0.95)


def _points(xyz: np.ndarray) -> list:
    """geometry_msgs/Point fields of every row of (N, 3) metres."""
    return [{"x": x, "y": y, "z": z} for x, y, z in np.asarray(xyz, np.float64).tolist()]


def _marker(header: dict, ns: str, marker_id: int, marker_type: int, action: int,
            scale: float = 1.0, rgba=(0.0, 0.0, 0.0, 0.0), lifetime_ns: int = 0,
            points: Optional[list] = None) -> dict:
    """Every field of a visualization_msgs/Marker (Humble and Jazzy share the layout)."""
    r, g, b, a = (float(v) for v in rgba)
    sec, nanosec = divmod(int(lifetime_ns), NS_PER_S)
    return {
        "header": header, "ns": ns, "id": int(marker_id), "type": int(marker_type),
        "action": int(action),
        "pose": {"position": {"x": 0.0, "y": 0.0, "z": 0.0},
                 "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
        "scale": {"x": float(scale), "y": float(scale), "z": float(scale)},
        "color": {"r": r, "g": g, "b": b, "a": a},
        "lifetime": {"sec": sec, "nanosec": nanosec},
        "frame_locked": False,
        "points": points or [],
        "colors": [],
        "texture_resource": "",
        "texture": {"header": header_fields(0, ""), "format": "", "data": np.zeros(0, np.uint8)},
        "uv_coordinates": [],
        "text": "",
        "mesh_resource": "",
        "mesh_file": {"filename": "", "data": np.zeros(0, np.uint8)},
        "mesh_use_embedded_materials": False,
    }


def marker_array_fields(stamp_ns: int, frame_id: str, people: Sequence[PersonEstimate],
                        style: str = "skeleton", faces=None, *, namespace: str = "phmr",
                        line_width: float = 0.02, lifetime_s: float = 0.5) -> dict:
    """MarkerArray fields for one image: DELETEALL, then one marker per person.

    style "skeleton": LINE_LIST of the SMPL-X bones between ``joints_3d[:55]``, ``line_width``
    metres wide; "mesh": TRIANGLE_LIST of ``vertices[faces]`` (needs ``faces`` (F, 3) and the
    people's vertices). Marker id = track id (untracked people get 1000000 + their index).
    Raises ValueError for an unknown style, or for "mesh" without faces or vertices.
    """
    if style not in MARKER_STYLES:
        raise ValueError(f"marker style must be one of {list(MARKER_STYLES)}, got {style!r}")
    header = header_fields(stamp_ns, frame_id)
    markers = [_marker(header, namespace, 0, LINE_LIST, DELETEALL)]
    lifetime_ns = int(round(float(lifetime_s) * NS_PER_S))
    f = None
    if style == "mesh":
        if faces is None:
            raise ValueError("marker style 'mesh' needs the mesh faces")
        f = np.asarray(faces, dtype=np.int64)
        if f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"faces must have shape (F, 3), got {f.shape}")
    for index, p in enumerate(people):
        marker_id = p.track_id if p.track_id >= 0 else _UNTRACKED_ID_BASE + index
        rgba = (*id_color(p.track_id), 1.0)
        if style == "skeleton":
            joints = np.asarray(p.joints_3d, np.float64)                        # (J, 3)
            if joints.shape[0] < NUM_JOINTS:
                raise ValueError(f"person {p.track_id}: {joints.shape[0]} joints, the skeleton "
                                 f"needs the {NUM_JOINTS} SMPL-X joints")
            segments = joints[_BONES].reshape(-1, 3)                             # (108, 3)
            markers.append(_marker(header, namespace, marker_id, LINE_LIST, ADD, line_width,
                                   rgba, lifetime_ns, _points(segments)))
        else:
            if p.vertices is None:
                raise ValueError(f"person {p.track_id} has no vertices for a mesh marker")
            vertices = np.asarray(p.vertices, np.float64)                       # (V, 3)
            if f.size and f.max() >= len(vertices):
                raise ValueError(f"face index {f.max()} >= vertex count {len(vertices)}")
            triangles = vertices[f].reshape(-1, 3)                               # (3F, 3)
            markers.append(_marker(header, namespace, marker_id, TRIANGLE_LIST, ADD, 1.0,
                                   rgba, lifetime_ns, _points(triangles)))
    return {"markers": markers}
