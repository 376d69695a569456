"""REP-155 (ROS4HRI) identity and fields: body ids, the tracked-bodies list, per-body ROI.

REP-155 ids are short strings starting with a letter; ours are "b" + the tracker id, so the
REP-155 topics (/humans/bodies/<id>/...), the TF frame body_<id> and HumanMesh.body_id all name
the same person, and a box prompt may address a body by either form ("7" or "b7").
"""
from __future__ import annotations

import numpy as np

from ros_phmr.ros.msg_fields import header_fields

BODY_ID_PREFIX = "b"


def body_id_for_track(track_id: int) -> str:
    """REP-155 body id of a tracker id ("b7"); "" for an untracked person (id < 0)."""
    track_id = int(track_id)
    return f"{BODY_ID_PREFIX}{track_id}" if track_id >= 0 else ""


def parse_person_id(text: str) -> int:
    """Person id from a prompt's id string: "7", " 7 ", or a body id "b7". Raises ValueError."""
    s = str(text).strip()
    digits = s[len(BODY_ID_PREFIX):] if s.startswith(BODY_ID_PREFIX) else s
    if not digits:
        raise ValueError(f"id {text!r} is empty; expected a person id such as '7' or 'b7'")
    if digits.startswith(("+", "-")):
        sign, digits = digits[0], digits[1:]
    else:
        sign = ""
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"id {text!r} is not a number; expected a person id such as '7' or 'b7'")
    value = int(sign + digits)
    if value < 0:
        raise ValueError(f"id {text!r} is negative; person ids are >= 0")
    if value > 2**31 - 1:
        raise ValueError(f"id {text!r} does not fit an int32 person id")
    return value


def ids_list_fields(stamp_ns: int, frame_id: str, track_ids) -> dict:
    """hri_msgs/IdsList fields for /humans/bodies/tracked (published every frame, even empty)."""
    ids = [body_id_for_track(t) for t in track_ids]
    return {"header": header_fields(stamp_ns, frame_id), "ids": [i for i in ids if i]}


def roi_fields(stamp_ns: int, frame_id: str, box_xyxy, width: int, height: int,
               confidence: float) -> dict:
    """hri_msgs/NormalizedRegionOfInterest2D fields: the box divided by the image size, clipped to [0, 1]."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    x1, y1, x2, y2 = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
    scale = np.array([width, height, width, height], dtype=np.float64)
    xmin, ymin, xmax, ymax = np.clip(np.array([x1, y1, x2, y2]) / scale, 0.0, 1.0).tolist()
    return {"header": header_fields(stamp_ns, frame_id), "xmin": xmin, "ymin": ymin,
            "xmax": xmax, "ymax": ymax, "c": float(np.clip(confidence, 0.0, 1.0))}
