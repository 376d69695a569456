"""One estimated person as plain numpy arrays: what the pipeline hands to publishers and writers.

Kept free of torch and ROS so that the node, the bag/MCAP writers and tests share one type.
Frames: 3D in the camera optical frame (x right, y down, z forward), metres; 2D in pixels of
the source image. Rotations are axis-angle, SMPL-X joint order, hands relative to the flat hand.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

# Bits of PersonEstimate.prompt_kinds; equal to the PROMPT_* constants of ros_phmr_msgs/HumanMesh.
PROMPT_BOX = 1
PROMPT_MASK = 2
PROMPT_TEXT = 4
PROMPT_INTERACTION = 8

NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15

# Field -> required shape; None marks a free length (betas, expression, joints, vertices).
_SHAPES = {
    "box_xyxy": (4,),
    "global_orient": (3,),
    "body_pose": (NUM_BODY_JOINTS, 3),
    "left_hand_pose": (NUM_HAND_JOINTS, 3),
    "right_hand_pose": (NUM_HAND_JOINTS, 3),
    "jaw_pose": (3,),
    "betas": (None,),
    "expression": (None,),
    "transl": (3,),
    "joints_3d": (None, 3),
    "joints_2d": (None, 2),
    "vertices": (None, 3),
}


@dataclass
class PersonEstimate:
    """SMPL-X estimate of one person in one image; arrays are cast to float32 and shape-checked.

    ``track_id`` -1 = untracked; ``prompt_id`` -1 = found by the detector alone;
    ``prompt_kinds`` = bit set of PROMPT_* (0 = no prompt); ``vertices`` None = not computed.
    """

    track_id: int
    score: float
    box_xyxy: np.ndarray         # (4,) x1, y1, x2, y2 pixels
    global_orient: np.ndarray    # (3,) axis-angle
    body_pose: np.ndarray        # (21, 3) axis-angle
    left_hand_pose: np.ndarray   # (15, 3) axis-angle
    right_hand_pose: np.ndarray  # (15, 3) axis-angle
    jaw_pose: np.ndarray         # (3,) axis-angle
    betas: np.ndarray            # (B,)
    expression: np.ndarray       # (E,)
    transl: np.ndarray           # (3,) metres
    joints_3d: np.ndarray        # (J, 3) metres, camera frame
    joints_2d: np.ndarray        # (J, 2) pixels
    vertices: Optional[np.ndarray] = None  # (V, 3) metres, camera frame
    prompt_id: int = -1
    prompt_kinds: int = 0

    def __post_init__(self) -> None:
        for name, shape in _SHAPES.items():
            value = getattr(self, name)
            if value is None and name == "vertices":
                continue
            try:
                arr = np.asarray(value, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"PersonEstimate.{name} must be numeric: {exc}") from None
            if name in ("body_pose", "left_hand_pose", "right_hand_pose") and arr.ndim == 1:
                arr = arr.reshape(-1, 3) if arr.size % 3 == 0 else arr  # flat axis-angle accepted
            if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
                dims = ["N" if s is None else str(s) for s in shape]
                want = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
                raise ValueError(f"PersonEstimate.{name} must have shape {want}, got {arr.shape}")
            setattr(self, name, arr)
        if self.joints_3d.shape[0] != self.joints_2d.shape[0]:
            raise ValueError(
                f"PersonEstimate has {self.joints_3d.shape[0]} 3D joints but "
                f"{self.joints_2d.shape[0]} 2D joints"
            )
        self.track_id = int(self.track_id)
        self.prompt_id = int(self.prompt_id)
        self.prompt_kinds = int(self.prompt_kinds)
        self.score = float(np.float32(self.score))  # what a float32 message field can hold

    def __eq__(self, other) -> bool:
        """Exact equality of every field (arrays compared element-wise, dtype included)."""
        if not isinstance(other, PersonEstimate):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                        and a.dtype == b.dtype and np.array_equal(a, b)):
                    return False
            elif a != b:
                return False
        return True
