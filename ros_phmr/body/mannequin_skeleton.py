"""Rest-pose skeleton of the synthetic mannequin: a 1.70 m adult in the SMPL-X T-pose.

Coordinates are SMPL-X's canonical frame (y up, z forward, x towards the model's left) but
measured from the floor (soles at y = 0); :data:`FLOOR_TO_MODEL_Y` moves the finished model so
the pelvis sits near y = -0.35 like the SMPL-X template. Only the left side is written down; the
right side is its mirror image (x -> -x).
"""
from typing import Dict, List, Tuple

import numpy as np

from ros_phmr.body import layout

FLOOR_TO_MODEL_Y = -1.30
HEIGHT = 1.70

# Joint positions (floor coordinates) of the midline and the left side.
_MIDLINE = {
    "pelvis": (0.0, 0.950, 0.000), "spine1": (0.0, 1.060, -0.015), "spine2": (0.0, 1.190, -0.010),
    "spine3": (0.0, 1.250, -0.005), "neck": (0.0, 1.430, -0.025), "head": (0.0, 1.535, -0.005),
    "jaw": (0.0, 1.515, 0.025),
}
_WRIST = np.array([0.705, 1.390, -0.020])
_LEFT = {
    "hip": (0.068, 0.865, -0.005), "knee": (0.100, 0.490, 0.005), "ankle": (0.095, 0.080, -0.025),
    "foot": (0.110, 0.025, 0.095), "collar": (0.070, 1.365, -0.020),
    "shoulder": (0.175, 1.390, -0.020), "elbow": (0.445, 1.390, -0.025),
    "wrist": tuple(_WRIST), "eye_smplhf": (0.035, 1.587, 0.086),
}
# Finger chains relative to the wrist: first joint offset, then the three bone lengths along +x
# (last one ends at the fingertip). The thumb is given as four points instead.
_FINGERS = {
    "index": ((0.088, 0.003, 0.032), (0.040, 0.024, 0.022), 0.0092, 0.0084),
    "middle": ((0.092, 0.003, 0.011), (0.044, 0.027, 0.024), 0.0096, 0.0088),
    "ring": ((0.088, 0.002, -0.012), (0.040, 0.026, 0.023), 0.0090, 0.0082),
    "pinky": ((0.080, 0.000, -0.033), (0.032, 0.019, 0.020), 0.0080, 0.0072),
}
_THUMB = ((0.022, -0.008, 0.022), (0.050, -0.012, 0.048), (0.077, -0.014, 0.064),
          (0.100, -0.015, 0.076))
THUMB_RADIUS = 0.0105
TOE_TIP = np.array([0.115, 0.018, 0.190])
HEEL = np.array([0.095, 0.015, -0.055])
HEAD_TOP = np.array([0.0, 1.680, 0.000])
NOSE_TIP = np.array([0.0, 1.550, 0.085])
CHIN = np.array([0.0, 1.475, 0.080])


def _mirror(point) -> np.ndarray:
    x, y, z = point
    return np.array([-x, y, z])


def joint_mirror() -> List[int]:
    """Index of the mirror-image joint of each of the 55 joints (itself on the midline)."""
    names = layout.JOINT_NAMES
    out = []
    for name in names:
        if name.startswith("left_"):
            out.append(names.index("right_" + name[5:]))
        elif name.startswith("right_"):
            out.append(names.index("left_" + name[6:]))
        else:
            out.append(names.index(name))
    return out


def finger_points(name: str) -> np.ndarray:
    """The left hand's (4, 3) points of a finger: joints 1, 2, 3 and the tip."""
    if name == "thumb":
        return _WRIST + np.asarray(_THUMB)
    first, lengths, _, _ = _FINGERS[name]
    start = _WRIST + np.asarray(first)
    steps = np.cumsum([0.0] + list(lengths))
    return start + steps[:, None] * np.array([1.0, 0.0, 0.0])


def finger_radii(name: str) -> Tuple[float, float]:
    """(half-width, half-thickness) of a left-hand finger at its base."""
    if name == "thumb":
        return THUMB_RADIUS, THUMB_RADIUS * 0.9
    return _FINGERS[name][2], _FINGERS[name][3]


def rest_joints() -> np.ndarray:
    """The 55 rest-pose joint positions (55, 3), floor coordinates."""
    joints = np.zeros((layout.NUM_JOINTS, 3))
    index = {name: i for i, name in enumerate(layout.JOINT_NAMES)}
    for name, point in _MIDLINE.items():
        joints[index[name]] = point
    for name, point in _LEFT.items():
        joints[index["left_" + name]] = point
        joints[index["right_" + name]] = _mirror(point)
    for finger in ("index", "middle", "pinky", "ring", "thumb"):
        points = finger_points(finger)
        for k in range(3):
            joints[index[f"left_{finger}{k + 1}"]] = points[k]
            joints[index[f"right_{finger}{k + 1}"]] = _mirror(points[k])
    return joints


def bone_segments() -> Dict[int, List[Tuple[np.ndarray, np.ndarray]]]:
    """Line segments each joint's rigid part is built around: joint -> [(start, end), ...].

    A vertex close to joint j's segments moves with joint j; blending between segments that
    meet at a joint gives the smooth weights near that joint.
    """
    joints = rest_joints()
    index = {name: i for i, name in enumerate(layout.JOINT_NAMES)}
    seg: Dict[int, List[Tuple[np.ndarray, np.ndarray]]] = {}

    def add(joint: str, start, end) -> None:
        seg.setdefault(index[joint], []).append((np.asarray(start, float), np.asarray(end, float)))

    def j(name: str) -> np.ndarray:
        return joints[index[name]]

    add("pelvis", j("pelvis"), j("spine1"))
    add("pelvis", (-0.07, 0.87, -0.01), (0.07, 0.87, -0.01))
    add("spine1", j("spine1"), j("spine2"))
    add("spine2", j("spine2"), j("spine3"))
    add("spine3", j("spine3"), j("neck"))
    add("neck", j("neck"), j("head"))
    add("head", j("head"), HEAD_TOP)
    add("head", j("head"), NOSE_TIP)
    add("jaw", j("jaw"), CHIN)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        flip = np.array([sign, 1.0, 1.0])
        add(f"{side}_hip", j(f"{side}_hip"), j(f"{side}_knee"))
        add(f"{side}_knee", j(f"{side}_knee"), j(f"{side}_ankle"))
        add(f"{side}_ankle", j(f"{side}_ankle"), j(f"{side}_foot"))
        add(f"{side}_ankle", j(f"{side}_ankle"), HEEL * flip)
        add(f"{side}_foot", j(f"{side}_foot"), TOE_TIP * flip)
        add(f"{side}_collar", j(f"{side}_collar"), j(f"{side}_shoulder"))
        add(f"{side}_shoulder", j(f"{side}_shoulder"), j(f"{side}_elbow"))
        add(f"{side}_elbow", j(f"{side}_elbow"), j(f"{side}_wrist"))
        add(f"{side}_wrist", j(f"{side}_wrist"), j(f"{side}_middle1"))
        add(f"{side}_eye_smplhf", j(f"{side}_eye_smplhf"), j(f"{side}_eye_smplhf"))
        for finger in ("index", "middle", "pinky", "ring", "thumb"):
            points = finger_points(finger) * flip
            for k in range(3):
                add(f"{side}_{finger}{k + 1}", points[k], points[k + 1])
    return seg
