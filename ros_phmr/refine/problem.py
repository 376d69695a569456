"""One refinement as a fixed-shape, capturable optimisation.

The inputs of a refinement are packed on the host into padded tensors (:func:`_host_inputs`);
problems with the same :func:`_signature` share one set of device buffers, so on CUDA the
whole optimisation is captured once as a graph and later problems are copied in and replayed.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from ros_phmr.body import layout
from ros_phmr.geometry.projection import project_points
from ros_phmr.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ros_phmr.people import PersonEstimate
from ros_phmr.refine.constraints import ContactConstraint, _sample_assignments
from ros_phmr.refine.kinematics import NUM_BODY_JOINTS_2D, increment_rotation

if TYPE_CHECKING:
    from ros_phmr.refine.refiner import ContactRefiner, RefineConfig


def _bucket(count: int, least: int) -> int:
    """Padded size: the next power of two, at least ``least``, so that constraints of similar
    size share one captured graph (and one compiled kernel set)."""
    return max(least, 1 << max(0, count - 1).bit_length())


def _host_inputs(refiner: "ContactRefiner", people: list[PersonEstimate], index: list[int],
                 constraints: list[ContactConstraint], K) -> tuple[dict, list[list[int]]]:
    """Everything one refinement reads, as CPU tensors (copied into a cached problem's device
    buffers before a graph replay), and the samples of each constraint (for reporting).

    The constraint layout is padded (terms, readings, samples to powers of two): padding terms
    are never read, padding readings sum nothing, padding samples weigh zero."""
    body, cfg = refiner.body, refiner.config
    sel = [people[i] for i in index]
    n = len(sel)
    f32 = lambda name: torch.as_tensor(np.stack([getattr(p, name) for p in sel]),   # noqa: E731
                                       dtype=torch.float32)
    aa = lambda name: f32(name).reshape(n, -1, 3)                                     # noqa: E731
    # smplx's joint order: root, 21 body, jaw, left eye, right eye, 15 left hand, 15 right hand.
    pose_aa = torch.cat([aa("global_orient"), aa("body_pose"), aa("jaw_pose"), torch.zeros(n, 2, 3),
                         aa("left_hand_pose"), aa("right_hand_pose")], 1)             # (n, 55, 3)
    if pose_aa.shape[1] != len(body.parents):
        raise ValueError(f"people's poses give {pose_aa.shape[1]} joints, the body model has "
                         f"{len(body.parents)}")
    fit = lambda v, k: torch.nn.functional.pad(v, (0, max(0, k - v.shape[1])))[:, :k]  # noqa: E731
    coeffs = torch.cat([fit(f32("betas"), body.num_betas),
                        fit(f32("expression"), body.num_expression)], 1)              # (n, Kc)

    pos = {int(people[i].track_id): k for k, i in enumerate(index)}
    names = refiner.region_names
    terms: dict[tuple[int, int, int, int], int] = {}
    readings, sample_readings, sample_weight, constraint_samples = [], [], [], []
    for c in constraints:
        pa, pb = pos[int(c.id_a)], pos[int(c.id_b)]
        constraint_samples.append(list(range(len(sample_readings), len(sample_readings) + len(c.samples))))
        for s in c.samples:
            first = len(readings)
            for reading in _sample_assignments(s, names):
                readings.append([terms.setdefault((pa, names.index(ra), pb, names.index(rb)),
                                                  len(terms)) for ra, rb in reading])
            sample_readings.append(range(first, len(readings)))
            sample_weight.append(cfg.contact_weight / len(c.samples))
    T, A, S = _bucket(len(terms), 8), _bucket(len(readings), 16), _bucket(len(sample_readings), 4)
    local, count = refiner.samples_local_host, refiner.subset_size                   # (R, Kp)
    rows = np.zeros((2, T, local.shape[1]), np.int64)          # padding terms: never read
    for (pa, ra, pb, rb), t in terms.items():
        rows[0, t], rows[1, t] = pa * count + local[ra], pb * count + local[rb]
    reading_matrix = torch.zeros(A, T)                         # per reading: sum of its terms
    for r, reading in enumerate(readings):
        for t in reading:
            reading_matrix[r, t] += 1.0
    sample_mask = torch.zeros(S, A)                            # padding samples: min over 0s
    for s, members in enumerate(sample_readings):
        sample_mask[s] = float("inf")
        sample_mask[s, list(members)] = 0.0
    weights = torch.zeros(S)
    weights[:len(sample_weight)] = torch.tensor(sample_weight)
    pairs = sorted({(pos[int(c.id_a)], pos[int(c.id_b)]) for c in constraints})
    host = {"pose_aa": pose_aa, "coeffs": coeffs, "transl0": f32("transl"),
            "K": torch.as_tensor(np.asarray(K), dtype=torch.float32),
            "rows_a": torch.from_numpy(rows[0].reshape(-1)), "rows_b": torch.from_numpy(rows[1].reshape(-1)),
            "reading_matrix": reading_matrix, "sample_mask": sample_mask, "sample_weight": weights,
            "pen_a": torch.tensor([p[0] for p in pairs]), "pen_b": torch.tensor([p[1] for p in pairs])}
    return host, constraint_samples


def _signature(cfg: RefineConfig, inputs: dict) -> tuple:
    """Layout of a problem (config, people, padded constraint sizes): problems of one layout
    share a captured graph."""
    return (cfg, inputs["pose_aa"].shape[0], tuple(inputs["reading_matrix"].shape),
            tuple(inputs["sample_mask"].shape), tuple(inputs["pen_a"].shape))


class _Problem:
    """Device buffers of one refinement and the fixed-budget optimisation over them.

    ``run`` is the whole optimisation (initial state, 2D targets, ``iterations`` Adam steps,
    contact before/after, the refined people posed with the full model): fixed shapes, no host synchronisation, no Python decisions on
    tensor values - on CUDA it is captured once per :meth:`signature` as one CUDA graph and
    later problems are copied into the buffers (:meth:`fill`) and replayed.

    Internally points are homogeneous (x, y, z, 1): forward kinematics, skinning, projection
    and translation are then plain matrix products without slicing (whose backward costs
    kernels); the constant 4th coordinate leaves every distance unchanged.
    """

    INPUTS = ("pose_aa", "coeffs", "transl0", "K", "rows_a", "rows_b", "reading_matrix",
              "sample_mask", "sample_weight", "pen_a", "pen_b")

    def __init__(self, refiner: "ContactRefiner", people: list[PersonEstimate], index: list[int],
                 constraints: list[ContactConstraint], K, host: tuple | None = None) -> None:
        """``host``: what :func:`_host_inputs` returns for these arguments, if already made."""
        host, self.constraint_samples = host or _host_inputs(refiner, people, index, constraints, K)
        dev, cfg = refiner.device, refiner.config
        self.source = (people, index, constraints, K)
        self.refiner, self.cfg = refiner, cfg
        for name in self.INPUTS:
            setattr(self, name, host[name].to(dev))
        n, J = host["pose_aa"].shape[:2]
        B = layout.NUM_BODY_JOINTS
        self.n = n
        # Constants of the signature (people count, config): weights folded into masks.
        body_mask = torch.ones(1, J, 1, 1, device=dev)
        body_mask[:, 1:1 + B] = 0.0
        self.fixed_mask = body_mask                                                   # (1, J, 1, 1)
        self.joint_weight = torch.zeros(J + 1, 1, device=dev)                          # 2D term
        self.joint_weight[:NUM_BODY_JOINTS_2D] = cfg.reprojection_weight / (n * NUM_BODY_JOINTS_2D)
        self.prior_weight = torch.full((n, B * 3 + 3), cfg.pose_weight / (n * B * 3), device=dev)
        self.prior_weight[:, -3:] = 0.0
        self.lr = torch.full((n, B * 3 + 3), cfg.pose_lr, device=dev)
        self.lr[:, -3:] = cfg.transl_lr
        # Buffers written by ``prepare`` and ``run`` (constant parts set here once).
        self.base = torch.zeros(n, J + 1, 4, 4, device=dev)   # local transforms, body rotations 0
        self.base[:, :J, 3, 3] = 1.0
        self.base[:, J] = torch.eye(4, device=dev)                                     # virtual joint
        self.to_rest = torch.zeros(n, J + 1, 4, 4, device=dev)    # [[I, -rest_j], [0, 1]]; virtual 0
        self.to_rest[:, :J] = torch.eye(4, device=dev)
        self.K_h = torch.zeros(4, 3, device=dev)                                       # [K^T; 0]
        self.x = torch.zeros(n, B * 3 + 3, device=dev)       # body-joint increments, translation
        self.m, self.v = torch.zeros_like(self.x), torch.zeros_like(self.x)
        self.uv0 = torch.zeros(n, J + 1, 3, device=dev)
        self.before = torch.zeros(self.sample_weight.shape[0], device=dev)
        self.after = torch.zeros_like(self.before)
        self.loss_fn = self.loss
        if cfg.compile and dev.type == "cuda":
            self.loss_fn = torch.compile(self.loss, dynamic=False)
        self.prepare()

    def signature(self) -> tuple:
        """What a captured graph depends on besides buffer values."""
        return _signature(self.cfg, {name: getattr(self, name) for name in self.INPUTS})

    def fill(self, other) -> None:
        """Copy another problem of the same signature (a ``_Problem``, or ``(host inputs,
        constraint samples, source)`` as :meth:`ContactRefiner.refine` has them) into this
        one's input buffers."""
        if isinstance(other, _Problem):
            other = ({name: getattr(other, name) for name in self.INPUTS},
                     other.constraint_samples, other.source)
        inputs, self.constraint_samples, self.source = other
        for name in self.INPUTS:
            getattr(self, name).copy_(inputs[name])

    @torch.no_grad()
    def prepare(self) -> None:
        """Shaped rest joints and subset vertices, fixed pose correctives, local transforms."""
        r, n, J = self.refiner, self.n, self.pose_aa.shape[1]
        body = r.body
        self.rot0 = axis_angle_to_matrix(self.pose_aa)                                # (n, 55, 3, 3)
        rest = body.joint_template + (self.coeffs @ body.joint_shape_basis).view(n, J, 3)
        feat = (self.rot0[:, 1:] - torch.eye(3, device=rest.device)).reshape(n, -1)  # (n, 486)
        v = (r.v_template_subset + (self.coeffs @ r.shape_basis_subset).view(n, -1, 3)
             + (feat @ r.pose_basis_subset).view(n, -1, 3))                          # (n, S, 3)
        self.v_posed_fixed = torch.nn.functional.pad(v, (0, 1), value=1.0)            # (n, S, 4)
        self.rot0_body = self.rot0[:, 1:1 + layout.NUM_BODY_JOINTS].contiguous()       # (n, 21, 3, 3)
        local = rest - rest.index_select(1, r.parent_index)
        local[:, 0] = rest[:, 0] + self.transl0                # the root carries the translation
        self.base[:, :J, :3, :3] = self.rot0 * self.fixed_mask
        self.base[:, :J, :3, 3] = local
        self.to_rest[:, :J, :3, 3] = -rest
        self.K_h[:3] = self.K.T

    def pose_h(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Homogeneous sampled vertices (n, S, 4) and joints (n, J+1, 4) (last: virtual)."""
        r, n = self.refiner, self.n
        B = layout.NUM_BODY_JOINTS
        delta = increment_rotation(x[:, :-3].view(n, B, 3), r.half_generators)         # (n, 21, 3, 3)
        body_rot = self.rot0_body @ delta
        # Pose correctives are linear in (R - I): the fixed joints' part is precomputed.
        feat = (body_rot - self.rot0_body).view(n, -1)                                 # (n, 189)
        v_posed = torch.addmm(self.v_posed_fixed.view(n, -1), feat, r.pose_basis_body_h)  # (n, S*4)
        J = self.rot0.shape[1]
        A = self.base + torch.nn.functional.pad(body_rot, (0, 1, 0, 1, 1, J - B))      # (n, J+1, 4, 4)
        for table in r.ancestors:                         # pointer jumping: world transforms
            A = A.index_select(1, table) @ A
        skin = (A @ self.to_rest).view(n, J + 1, 16)                                   # (n, J+1, 16)
        blended = torch.matmul(r.weights_h, skin).view(n, -1, 4, 4)                   # (n, S, 4, 4)
        verts = (blended @ v_posed.view(n, -1, 4, 1)).squeeze(-1)                      # (n, S, 4)
        shift = torch.nn.functional.pad(x[:, -3:], (0, 1)).unsqueeze(1)                # (n, 1, 4)
        return verts + shift, A[..., 3] + shift

    def pose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled region vertices (n, S, 3) and the 55 joints (n, 55, 3), camera frame."""
        verts, joints = self.pose_h(x)
        return verts[..., :3], joints[:, :-1, :3]

    def term_distances(self, verts: torch.Tensor) -> torch.Tensor:
        """Minimum distance of every term's two sampled regions (T,)."""
        pts = verts.reshape(-1, verts.shape[-1])                                       # (n*S, 4)
        T = self.reading_matrix.shape[1]
        a = pts.index_select(0, self.rows_a).view(T, -1, pts.shape[-1])               # (T, Kp, 4)
        b = pts.index_select(0, self.rows_b).view(T, -1, pts.shape[-1])
        return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").flatten(1).amin(1)

    def contact_per_sample(self, dist: torch.Tensor) -> torch.Tensor:
        """(S,) minimum over left/right readings of the summed term distances."""
        return (self.reading_matrix @ dist + self.sample_mask).amin(1)

    def project(self, joints: torch.Tensor) -> torch.Tensor:
        """Homogeneous pixels (u, v, 1) of homogeneous points (depth clamped at 1 mm)."""
        q = joints @ self.K_h                                                          # (n, J+1, 3)
        return q / q[..., 2:].clamp(min=1e-3)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        cfg, r = self.cfg, self.refiner
        verts, joints = self.pose_h(x)
        dist = (self.term_distances(verts) - cfg.contact_margin).clamp(min=0.0)
        contact = self.contact_per_sample(dist) @ self.sample_weight                   # weighted
        reprojection = ((self.project(joints) - self.uv0).square() * self.joint_weight).sum()
        prior = (x.square() * self.prior_weight).sum()
        centres = torch.matmul(r.sphere_matrix, joints)                                # (n, Sp, 4)
        gap = torch.cdist(centres.index_select(0, self.pen_a), centres.index_select(0, self.pen_b),
                          compute_mode="donot_use_mm_for_euclid_dist")                 # (P, Sp, Sp)
        overlap = (r.radius_sum - gap).clamp(min=0.0)
        penetration = overlap.square().sum() * (cfg.penetration_weight / self.pen_a.shape[0])
        return contact + reprojection + prior + penetration

    def step(self, i: int = 0) -> None:
        """Adam step ``i`` (0-based) on ``x`` in place: bias corrections and the step-size
        schedule are Python constants of ``i``, so there is no host synchronisation."""
        x = self.x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.loss_fn(x), x)
        b1, b2, t = 0.9, 0.999, i + 1
        c1, c2 = 1.0 - b1 ** t, math.sqrt(1.0 - b2 ** t)
        # Step sizes decay linearly to a tenth over the budget: large moves first, then
        # settling instead of oscillating around the hinge of the contact term.
        decay = 1.0 - 0.9 * i / max(1, self.cfg.iterations - 1)
        with torch.no_grad():
            self.m.lerp_(grad, 1.0 - b1)
            self.v.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
            self.x.addcdiv_(self.m * self.lr, self.v.sqrt().add_(1e-8 * c2), value=-decay * c2 / c1)

    @torch.no_grad()
    def pose_final(self) -> None:
        """The refined people through the full body model (``final_*``: body-pose axis-angles
        (n, 21, 3), translation (n, 3), joints (n, 127, 3), pixels (n, 127, 2), vertices
        (n, V, 3)), on the device and inside the graph: posing them afterwards from Python
        would cost more than the optimisation's replay."""
        n, B, nb = self.n, layout.NUM_BODY_JOINTS, self.refiner.body.num_betas
        delta = increment_rotation(self.x[:, :-3].view(n, B, 3), self.refiner.half_generators)
        body_rot = self.rot0_body @ delta                                              # (n, 21, 3, 3)
        self.final_transl = self.transl0 + self.x[:, -3:]
        r = self.rot0
        out = self.refiner.body(global_orient=r[:, 0], body_pose=body_rot, jaw_pose=r[:, 22],
                                leye_pose=r[:, 23], reye_pose=r[:, 24], left_hand_pose=r[:, 25:40],
                                right_hand_pose=r[:, 40:55], betas=self.coeffs[:, :nb],
                                expression=self.coeffs[:, nb:], transl=self.final_transl)
        self.final_body_aa = matrix_to_axis_angle(body_rot)
        self.final_joints, self.final_vertices = out.joints, out.vertices
        self.final_uv = project_points(out.joints, self.K)

    def run(self) -> None:
        """The whole refinement from the inputs: reset, targets, Adam steps, contact after,
        the refined people posed with the full model."""
        self.prepare()
        with torch.no_grad():
            self.x.zero_(), self.m.zero_(), self.v.zero_()
            verts, joints = self.pose_h(self.x)
            self.uv0.copy_(self.project(joints))
            self.before.copy_(self.contact_per_sample(self.term_distances(verts)))
        for i in range(self.cfg.iterations):
            self.step(i)
        with torch.no_grad():
            self.after.copy_(self.contact_per_sample(self.term_distances(self.pose_h(self.x)[0])))
        self.pose_final()
