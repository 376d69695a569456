"""Coarse body regions for contact terms, derived from the model's own skinning weights.

Published SMPL-X segmentations are licensed data tied to the real mesh; deriving regions from the
LBS weights needs no extra file and works the same on the real and the synthetic model. Each
vertex goes to the body part whose joints hold most of its skinning weight (ties go to every
tied part, so mirror-symmetric vertices land on both sides); the torso is then split into
chest / stomach / back by which spine joint dominates and whether the vertex lies in front of
(+z) or behind that joint in the rest pose. The vocabulary follows ProsePose's coarse regions.
"""
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence

import numpy as np
import torch

from ros_phmr.body import layout

_J = {name: i for i, name in enumerate(layout.JOINT_NAMES)}


def _side_parts(side: str) -> Dict[str, List[int]]:
    fingers = [_J[f"{side}_{f}{k}"] for f in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)]
    return {
        f"{side}_shoulder": [_J[f"{side}_collar"]],
        f"{side}_upper_arm": [_J[f"{side}_shoulder"]],
        f"{side}_forearm": [_J[f"{side}_elbow"]],
        f"{side}_hand": [_J[f"{side}_wrist"]] + fingers,
        f"{side}_thigh": [_J[f"{side}_hip"]],
        f"{side}_shin": [_J[f"{side}_knee"]],
        f"{side}_foot": [_J[f"{side}_ankle"], _J[f"{side}_foot"]],
    }


# Body parts as joint groups; "torso" is split further into chest / stomach / back.
_PART_JOINTS: Dict[str, List[int]] = {
    "head": [_J["head"], _J["jaw"], _J["left_eye_smplhf"], _J["right_eye_smplhf"]],
    "neck": [_J["neck"]],
    "torso": [_J["spine1"], _J["spine2"], _J["spine3"]],
    "hips": [_J["pelvis"]],
    **_side_parts("left"),
    **_side_parts("right"),
}
BASE_REGIONS: List[str] = (
    ["head", "neck", "chest", "stomach", "back", "hips"]
    + [f"{side}_{part}" for part in ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot")
       for side in ("left", "right")]
)
# Unions of base regions (ProsePose's "arm" and "leg").
UNIONS: Dict[str, Sequence[str]] = {
    "left_arm": ("left_upper_arm", "left_forearm"), "right_arm": ("right_upper_arm", "right_forearm"),
    "left_leg": ("left_thigh", "left_shin"), "right_leg": ("right_thigh", "right_shin"),
}
# Splits of the hips region: "butt" is behind the pelvis joint and below it, "waist" the rest.
HIP_SPLITS = ("butt", "waist")
_TIE = 1e-6


@dataclass(frozen=True)
class BodyRegions:
    """Named vertex sets: ``names`` (R,) and a boolean ``mask`` (R, V); regions may overlap.

    ``BASE_REGIONS`` cover every vertex; ``UNIONS`` and ``HIP_SPLITS`` are extra names.
    """

    names: List[str]
    mask: torch.Tensor   # (R, V) bool

    @classmethod
    def from_model(cls, arrays: Mapping[str, np.ndarray]) -> "BodyRegions":
        """Derive the regions from a model's ``weights``, ``v_template`` and ``J_regressor``."""
        weights = np.asarray(arrays["weights"], np.float64)             # (V, 55)
        template = np.asarray(arrays["v_template"], np.float64)         # (V, 3)
        joints = np.asarray(arrays["J_regressor"], np.float64) @ template  # (55, 3)
        part_names = list(_PART_JOINTS)
        membership = np.zeros((layout.NUM_JOINTS, len(part_names)))
        for p, name in enumerate(part_names):
            membership[_PART_JOINTS[name], p] = 1.0
        part_weight = weights @ membership                              # (V, P)
        in_part = part_weight >= part_weight.max(1, keepdims=True) - _TIE
        regions = {name: in_part[:, p] for p, name in enumerate(part_names) if name != "torso"}

        spine = _PART_JOINTS["torso"]
        spine_weight = weights[:, spine]
        top = spine_weight >= spine_weight.max(1, keepdims=True) - _TIE  # (V, 3) dominant spine joint
        forward = (template[:, None, 2] - joints[spine, 2][None]) >= 0.0  # (V, 3) in front of it
        torso = in_part[:, part_names.index("torso")]
        regions["chest"] = torso & (top[:, 2] & forward[:, 2])
        regions["stomach"] = torso & ((top[:, 0] & forward[:, 0]) | (top[:, 1] & forward[:, 1]))
        regions["back"] = torso & (top & ~forward).any(1)

        for name, parts in UNIONS.items():
            regions[name] = np.logical_or.reduce([regions[p] for p in parts])
        pelvis = joints[_J["pelvis"]]
        butt = (template[:, 2] < pelvis[2]) & (template[:, 1] < pelvis[1])
        regions["butt"] = regions["hips"] & butt
        regions["waist"] = regions["hips"] & ~butt

        names = BASE_REGIONS + list(UNIONS) + list(HIP_SPLITS)
        mask = torch.from_numpy(np.stack([regions[n] for n in names]))
        return cls(names=names, mask=mask)

    def index(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"unknown body region {name!r}; known regions: {', '.join(self.names)}")
        return self.names.index(name)

    def vertex_ids(self, name: str) -> torch.Tensor:
        """Vertex indices (LongTensor) of a region, on the mask's device (not for hot paths:
        it synchronises with the device)."""
        return torch.nonzero(self.mask[self.index(name)]).flatten()

    def to(self, device) -> "BodyRegions":
        return BodyRegions(names=list(self.names), mask=self.mask.to(device))
