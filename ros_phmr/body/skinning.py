"""BodyModel: a lean, batched SMPL-X forward (linear blend skinning) of our own.

Same maths and joint order as smplx 0.1.28 ``SMPLXLayer`` with rotation-matrix inputs, built for
many people per call and for CUDA graphs:

* the skeleton comes from precomputed joint shape directions (a small matmul) instead of
  regressing joints from all 10475 vertices;
* forward kinematics runs level by level over the kinematic tree (11 levels, not 54 sequential
  joint steps) with the parents held as Python data and index buffers - no ``.item()``, no
  host-device copies, no data-dependent Python branches;
* skinning is one matmul for the blended transforms of all bodies, and 3x3 products are
  broadcast multiply-adds (no batched GEMM launches over millions of tiny matrices).
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from ros_phmr.body import layout
from ros_phmr.body.model_file import load_model_arrays
from ros_phmr.body.regions import BodyRegions
from ros_phmr.geometry.rotations import axis_angle_to_matrix

Tensor = torch.Tensor


@dataclass
class BodyOutput:
    """Posed bodies of one call. Joints follow smplx: 55 skeleton joints, 21 vertex keypoints
    (nose, eyes, ears, toes, heels, fingertips), 51 face landmarks."""

    vertices: Tensor                                    # (N, 10475, 3)
    joints: Tensor                                      # (N, 127, 3)
    _openpose_index: Tensor = field(repr=False)         # (25,) long, on the joints' device

    @property
    def joints55(self) -> Tensor:
        """The 55 skeleton joints (N, 55, 3)."""
        return self.joints[:, :layout.NUM_JOINTS]

    @property
    def openpose25(self) -> Tensor:
        """OpenPose BODY_25 keypoints (N, 25, 3) picked from the 127 joints as PromptHMR does.

        PromptHMR additionally moves the hips and substitutes SMPL joints using licensed extra
        regressor files; neither is applied here.
        """
        return self.joints.index_select(1, self._openpose_index)


def _ancestor_jumps(parents: List[int]) -> List[List[int]]:
    """Pointer-jumping schedule for forward kinematics over ``parents`` (root: -1).

    Index J = len(parents) is an identity sentinel, the root's "parent". Step k maps every joint
    to its ancestor 2^k levels up (or J): after ceil(log2(depth + 1)) steps every chain is
    composed (4 steps for SMPL-X's depth 10, instead of 10 level-by-level steps).
    """
    sentinel = len(parents)
    up = [sentinel if p < 0 else p for p in parents] + [sentinel]
    steps = []
    while any(a != sentinel for a in up[:-1]):
        steps.append(list(up))
        up = [up[a] for a in up]
    return steps


class BodyModel(nn.Module):
    """Batched SMPL-X skinning from model arrays (see :func:`load_model_arrays`).

    All inputs are rotation matrices; ``None`` for an optional input means identity rotation
    (flat hand, closed jaw) or zeros. Hand poses are absolute (no mean-hand offset is added);
    pass ``hands_mean_left/right`` for SMPL-X's relaxed mean hand.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], num_betas: int = 10, num_expression: int = 10):
        super().__init__()
        shapedirs = np.asarray(arrays["shapedirs"], np.float64)       # (V, 3, 400) or (V, 3, 20)
        v1_1 = shapedirs.shape[-1] >= layout.SHAPE_SPACE_DIM + layout.EXPRESSION_SPACE_DIM
        max_betas = layout.SHAPE_SPACE_DIM if v1_1 else layout.LEGACY_SHAPE_COLUMNS // 2
        max_expression = layout.EXPRESSION_SPACE_DIM if v1_1 else layout.LEGACY_SHAPE_COLUMNS // 2
        if not 0 <= num_betas <= max_betas:
            raise ValueError(f"num_betas must be in [0, {max_betas}] for this model file, got {num_betas}")
        if not 0 <= num_expression <= max_expression:
            raise ValueError(f"num_expression must be in [0, {max_expression}] for this model file, "
                             f"got {num_expression}")
        self.num_betas, self.num_expression = num_betas, num_expression
        expr_start = layout.SHAPE_SPACE_DIM if v1_1 else layout.LEGACY_SHAPE_COLUMNS // 2
        blend = np.concatenate([shapedirs[:, :, :num_betas],
                                shapedirs[:, :, expr_start:expr_start + num_expression]], axis=2)
        template = np.asarray(arrays["v_template"], np.float64)      # (V, 3)
        regressor = np.asarray(arrays["J_regressor"], np.float64)    # (55, V)
        num_vertices = template.shape[0]
        f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        i64 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))    # noqa: E731

        self.register_buffer("v_template", f32(template))                                  # (V, 3)
        self.register_buffer("shape_basis", f32(blend.reshape(num_vertices * 3, -1).T))    # (K, V*3)
        self.register_buffer("joint_template", f32(regressor @ template))                  # (55, 3)
        joint_dirs = np.einsum("jv,vck->kjc", regressor, blend)                            # (K, 55, 3)
        self.register_buffer("joint_shape_basis", f32(joint_dirs.reshape(blend.shape[2], -1)))  # (K, 165)
        posedirs = np.asarray(arrays["posedirs"], np.float64)                              # (V, 3, 486)
        self.register_buffer("pose_basis", f32(posedirs.reshape(num_vertices * 3, -1).T))  # (486, V*3)
        self.register_buffer("lbs_weights", f32(arrays["weights"]))                        # (V, 55)
        faces = np.asarray(arrays["f"], np.int64)
        self.register_buffer("faces", i64(faces))                                           # (F, 3)

        parents = [int(p) for p in np.asarray(arrays["kintree_table"])[0]]
        parents[0] = -1
        self.parents: List[int] = parents
        jumps = _ancestor_jumps(parents)
        self._jumps = len(jumps)
        for k, ancestors in enumerate(jumps):
            self.register_buffer(f"_jump{k}", i64(ancestors), persistent=False)             # (56,)
        self.register_buffer("_parent_index", i64([max(p, 0) for p in parents]), persistent=False)
        self.register_buffer("_has_parent", f32([[0.0]] + [[1.0]] * (len(parents) - 1)), persistent=False)

        self.register_buffer("_extra_vertices", i64([v for _, v in layout.EXTRA_VERTEX_IDS]), persistent=False)
        lmk_faces = faces[np.asarray(arrays["lmk_faces_idx"], np.int64)]                    # (51, 3)
        self.register_buffer("_landmark_vertices", i64(lmk_faces.reshape(-1)), persistent=False)
        self.register_buffer("_landmark_bary", f32(arrays["lmk_bary_coords"]), persistent=False)
        self.register_buffer("_openpose_index", i64(layout.OPENPOSE25_FROM_SMPLX), persistent=False)

        means = np.stack([np.asarray(arrays["hands_meanl"], np.float64),
                          np.asarray(arrays["hands_meanr"], np.float64)]).reshape(2, 15, 3)
        hand_rot = axis_angle_to_matrix(torch.from_numpy(means)).to(torch.float32)          # (2, 15, 3, 3)
        self.register_buffer("hands_mean_left", hand_rot[0].contiguous())                    # (15, 3, 3)
        self.register_buffer("hands_mean_right", hand_rot[1].contiguous())                   # (15, 3, 3)
        regions = BodyRegions.from_model(arrays)
        self._region_names = regions.names
        self.register_buffer("region_mask", regions.mask, persistent=False)                 # (R, V)

    @classmethod
    def from_file(cls, path: Union[str, Path], num_betas: int = 10, num_expression: int = 10) -> "BodyModel":
        """Load and validate an SMPL-X ``.npz`` (file or folder, see :func:`load_model_arrays`)."""
        return cls(load_model_arrays(path), num_betas=num_betas, num_expression=num_expression)

    @property
    def regions(self) -> BodyRegions:
        """Contact regions derived from the skinning weights, on this model's device."""
        return BodyRegions(names=list(self._region_names), mask=self.region_mask)

    def mean_hands(self, batch: int) -> Dict[str, Tensor]:
        """``left_hand_pose`` / ``right_hand_pose`` (batch, 15, 3, 3) of the mean (relaxed) hand,
        to pass as keyword arguments to :meth:`forward`."""
        return {"left_hand_pose": self.hands_mean_left.expand(batch, -1, -1, -1),
                "right_hand_pose": self.hands_mean_right.expand(batch, -1, -1, -1)}

    def forward(self, global_orient: Tensor, body_pose: Tensor, betas: Optional[Tensor] = None,
                left_hand_pose: Optional[Tensor] = None, right_hand_pose: Optional[Tensor] = None,
                jaw_pose: Optional[Tensor] = None, leye_pose: Optional[Tensor] = None,
                reye_pose: Optional[Tensor] = None, expression: Optional[Tensor] = None,
                transl: Optional[Tensor] = None) -> BodyOutput:
        """Pose N bodies. Rotations: global_orient (N, 3, 3), body_pose (N, 21, 3, 3), hands
        (N, 15, 3, 3), jaw/eyes (N, 3, 3); betas (N, num_betas); expression (N, num_expression);
        transl (N, 3). Returns vertices (N, 10475, 3) and joints (N, 127, 3)."""
        count = global_orient.shape[0] if global_orient.ndim >= 1 else 0
        rot = self._rotations(count, global_orient, body_pose, left_hand_pose, right_hand_pose,
                              jaw_pose, leye_pose, reye_pose)                                 # (N, 55, 3, 3)
        coeffs = self._shape_coefficients(count, betas, expression)                           # (N, K)

        v_shaped = self.v_template + (coeffs @ self.shape_basis).view(count, -1, 3)           # (N, V, 3)
        joints = self.joint_template + (coeffs @ self.joint_shape_basis).view(count, -1, 3)   # (N, 55, 3)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        pose_feature = (rot[:, 1:] - eye).reshape(count, -1)                                  # (N, 486)
        v_posed = v_shaped + (pose_feature @ self.pose_basis).view(count, -1, 3)              # (N, V, 3)

        world_rot, world_pos = self._forward_kinematics(rot, joints)   # (N, 55, 3, 3), (N, 55, 3)
        offset = world_pos - _rotate(world_rot, joints)                                        # (N, 55, 3)
        transforms = torch.cat([world_rot.reshape(count, -1, 9), offset], dim=-1)             # (N, 55, 12)
        # One (V, 55) x (55, N*12) product for all bodies, not N thin ones.
        blended = (self.lbs_weights @ transforms.transpose(0, 1).reshape(transforms.shape[1], -1)
                   ).view(-1, count, 12).transpose(0, 1)                                    # (N, V, 12)
        vertices = _rotate(blended[..., :9].unflatten(-1, (3, 3)), v_posed) + blended[..., 9:]  # (N, V, 3)

        extra = vertices.index_select(1, self._extra_vertices)                                # (N, 21, 3)
        corners = vertices.index_select(1, self._landmark_vertices).view(count, -1, 3, 3)     # (N, 51, 3, 3)
        landmarks = torch.einsum("nlkc,lk->nlc", corners, self._landmark_bary)                # (N, 51, 3)
        all_joints = torch.cat([world_pos, extra, landmarks], dim=1)                          # (N, 127, 3)
        if transl is not None:
            self._check(transl, "transl", (count, 3))
            vertices = vertices + transl.unsqueeze(1)
            all_joints = all_joints + transl.unsqueeze(1)
        return BodyOutput(vertices=vertices, joints=all_joints, _openpose_index=self._openpose_index)

    # ------------------------------------------------------------------------- helpers

    def _forward_kinematics(self, rot: Tensor, joints: Tensor) -> Tuple[Tensor, Tensor]:
        """World rotations and positions of all joints by pointer jumping (``_ancestor_jumps``).

        Each joint holds the rigid transform from its frame to its current ancestor's, first
        (rot_j, rest offset from its parent); a step composes it with the ancestor's own. A few
        batched steps instead of one per tree level: at batch 1 FK is kernel-launch bound.
        """
        count = rot.shape[0]
        parent_pos = joints.index_select(1, self._parent_index) * self._has_parent          # (N, 55, 3)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device).expand(count, 1, 3, 3)
        R = torch.cat([rot, eye], dim=1)                                                      # (N, 56, 3, 3)
        t = torch.cat([joints - parent_pos, torch.zeros_like(joints[:, :1])], dim=1)          # (N, 56, 3)
        for k in range(self._jumps):
            up = getattr(self, f"_jump{k}")
            R_up = R.index_select(1, up)
            t = t.index_select(1, up) + _rotate(R_up, t)
            R = _compose(R_up, R)
        return R[:, :-1], t[:, :-1]

    def _check(self, value: Tensor, name: str, shape: Tuple[int, ...]) -> None:
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
        if value.dtype != self.v_template.dtype or value.device != self.v_template.device:
            raise ValueError(f"{name} is {value.dtype} on {value.device}, but the body model is "
                             f"{self.v_template.dtype} on {self.v_template.device}")

    def _rotations(self, count: int, global_orient: Tensor, body_pose: Tensor, *optional: Optional[Tensor]) -> Tensor:
        if isinstance(global_orient, torch.Tensor) and global_orient.ndim == 4:
            global_orient = global_orient.squeeze(1) if global_orient.shape[1] == 1 else global_orient
        self._check(global_orient, "global_orient", (count, 3, 3))
        self._check(body_pose, "body_pose", (count, layout.NUM_BODY_JOINTS, 3, 3))
        eye = torch.eye(3, dtype=self.v_template.dtype, device=self.v_template.device)
        names = ("left_hand_pose", "right_hand_pose", "jaw_pose", "leye_pose", "reye_pose")
        sizes = (layout.NUM_HAND_JOINTS, layout.NUM_HAND_JOINTS, 1, 1, 1)
        parts = [global_orient.unsqueeze(1), body_pose]
        face = []
        hands = []
        for name, size, value in zip(names, sizes, optional):
            if value is None:
                value = eye.expand(count, size, 3, 3)
            elif size == 1:
                self._check(value, name, (count, 3, 3))
                value = value.unsqueeze(1)
            else:
                self._check(value, name, (count, size, 3, 3))
            (hands if size > 1 else face).append(value)
        return torch.cat(parts + face + hands, dim=1)                                        # (N, 55, 3, 3)

    def _shape_coefficients(self, count: int, betas: Optional[Tensor], expression: Optional[Tensor]) -> Tensor:
        zeros = self.v_template.new_zeros
        if betas is None:
            betas = zeros(count, self.num_betas)
        self._check(betas, "betas", (count, self.num_betas))
        if expression is None:
            expression = zeros(count, self.num_expression)
        self._check(expression, "expression", (count, self.num_expression))
        return torch.cat([betas, expression], dim=1)                                         # (N, K)


def pose_from_axis_angle(global_orient: Tensor, body_pose: Tensor, left_hand_pose: Optional[Tensor] = None,
                         right_hand_pose: Optional[Tensor] = None, jaw_pose: Optional[Tensor] = None,
                         leye_pose: Optional[Tensor] = None, reye_pose: Optional[Tensor] = None) -> Dict[str, Tensor]:
    """Rotation-matrix keyword arguments for :meth:`BodyModel.forward` from axis-angle poses.

    Accepts global_orient (N, 3), body_pose (N, 63) or (N, 21, 3), hands (N, 45) or (N, 15, 3),
    jaw/eyes (N, 3); ``None`` entries are left out (the model then uses identity).
    """
    shapes = {"global_orient": 1, "body_pose": layout.NUM_BODY_JOINTS, "left_hand_pose": layout.NUM_HAND_JOINTS,
              "right_hand_pose": layout.NUM_HAND_JOINTS, "jaw_pose": 1, "leye_pose": 1, "reye_pose": 1}
    values = {"global_orient": global_orient, "body_pose": body_pose, "left_hand_pose": left_hand_pose,
              "right_hand_pose": right_hand_pose, "jaw_pose": jaw_pose, "leye_pose": leye_pose,
              "reye_pose": reye_pose}
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        joints = shapes[name]
        if value.shape[-1] != 3 * joints and tuple(value.shape[-2:]) != (joints, 3):
            raise ValueError(f"{name} must be (N, {3 * joints}) or (N, {joints}, 3) axis-angle, "
                             f"got {tuple(value.shape)}")
        rot = axis_angle_to_matrix(value.reshape(value.shape[0], joints, 3))                 # (N, J, 3, 3)
        out[name] = rot[:, 0] if joints == 1 else rot
    return out


# 3x3 products as broadcast multiply-adds: batched GEMM kernels for millions of 3x3 problems
# (one per vertex or joint) run as slow batched matrix-vector launches on a GPU.
def _rotate(rotations: Tensor, points: Tensor) -> Tensor:
    """(..., 3, 3) @ (..., 3) -> (..., 3)."""
    return (rotations * points.unsqueeze(-2)).sum(-1)


def _compose(first: Tensor, second: Tensor) -> Tensor:
    """(..., 3, 3) @ (..., 3, 3) -> (..., 3, 3)."""
    return (first.unsqueeze(-1) * second.unsqueeze(-3)).sum(-2)
