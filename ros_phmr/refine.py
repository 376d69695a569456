"""Contact refinement in the manner of ProsePose: make named body regions of two people touch,
keeping what the image showed.

A constraint names two people and several *samples* of region pairs, as a vision-language
model answering "which body parts of person 1 touch which of person 2" n times would give
them, with coarse region names and no left/right ("hand" - "shoulder"). The loss of one sample
is the minimum, over every left/right assignment of its chiral regions, of the sum of
region-to-region minimum distances (a base part named twice in one sample must use both sides);
the contact loss of a constraint is the mean over its samples. Optimised are each constrained
person's body-joint rotations (increments on the decoder's pose, each the vector part of an
unnormalised quaternion: exact rotations in a few ops) and translation, with:

* the 2D projection of the body joints kept where the decoder put them,
* a pull towards the decoder's pose,
* a cheap interpenetration term between inscribed spheres on the skeleton (joints and bone
  midpoints, radius = distance to the nearest rest-mesh vertex), which never fights a contact
  because inscribed spheres of touching surfaces do not overlap,
* a fixed number of Adam steps.

Only the vertices that the contact term reads (farthest-point samples of each region) are
skinned during the optimisation, from the :class:`ros_phmr.body.BodyModel`'s own arrays and
forward kinematics; the final people are posed with the full model. One step has no host
synchronisation and fixed shapes, so on CUDA it is captured once in a CUDA graph per problem
shape and replayed.

:class:`RefineWorker` runs refinements on a thread (latest request wins; ``submit`` never
blocks) and delivers the refined people with the source stamp.
"""
from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import torch

from ros_phmr.body import BodyModel, layout, pose_from_axis_angle
from ros_phmr.drops import Drop
from ros_phmr.geometry.projection import project_points
from ros_phmr.geometry.rotations import matrix_to_axis_angle
from ros_phmr.interaction import farthest_point_samples
from ros_phmr.people import PersonEstimate

LOG = logging.getLogger("ros_phmr.refine")
CHIRAL_PARTS = ("shoulder", "upper_arm", "forearm", "arm", "hand", "thigh", "shin", "leg", "foot")
NUM_BODY_JOINTS_2D = 22   # pelvis + 21 body joints: the joints whose projection is kept
MAX_READINGS = 256        # left/right and alternative readings of one sample at most


@dataclass(frozen=True)
class ContactConstraint:
    """People ``id_a`` and ``id_b`` touch; each sample is a list of (region of a, region of b).

    Region names: any name of the body model's regions (``left_hand``, ``chest``, ...) or a
    side-less coarse name (``hand``, ``arm``, ``shoulder``, ``leg``, ``foot``, ...) whose side
    the optimisation chooses, or '/'-separated alternatives ("hand/arm"). Case, spaces, plurals
    and ProsePose's qualifiers ("waist (back)") are normalised. :func:`samples_from_tables`
    reads the Markdown tables a vision-language model answers with.
    """

    id_a: int
    id_b: int
    samples: list = field(default_factory=list)  # list[list[tuple[str, str]]]


@dataclass(frozen=True)
class RefineConfig:
    """Loss weights, step sizes and the fixed iteration budget.

    ``contact_margin`` (m): distances below it cost nothing (surfaces this close touch).
    ``reprojection_weight`` applies to the mean squared pixel change of the body joints,
    ``pose_weight`` to the mean squared rotation increment (rad^2), ``penetration_weight`` to
    squared sphere overlaps (m^2).
    """

    iterations: int = 40
    pose_lr: float = 0.03
    transl_lr: float = 0.01
    contact_weight: float = 100.0
    contact_margin: float = 0.005
    reprojection_weight: float = 0.5
    pose_weight: float = 10.0
    penetration_weight: float = 1e4
    points_per_region: int = 48
    cuda_graph: bool = True

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.points_per_region < 1:
            raise ValueError(f"iterations and points_per_region must be >= 1, got "
                             f"{self.iterations}, {self.points_per_region}")
        for name in ("pose_lr", "transl_lr", "contact_weight", "contact_margin",
                     "reprojection_weight", "pose_weight", "penetration_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class RefineResult:
    """Refined people (same order as given; unconstrained people unchanged) and what changed."""

    people: list[PersonEstimate]
    contact_before: list[float]       # per constraint, metres (the contact loss, no margin)
    contact_after: list[float]
    reprojection_change_px: float     # mean 2D change of the body joints
    max_reprojection_change_px: float
    iterations: int
    seconds: float                    # whole call
    timings: dict = field(default_factory=dict)  # "setup", "optimise", "finish": seconds


def _normalise(name: str) -> str:
    name = re.sub(r"\(.*?\)", "", str(name)).strip().lower()
    name = re.sub(r"[\s\-]+", "_", name).strip("_")
    return {"hands": "hand", "feet": "foot", "arms": "arm", "legs": "leg", "shoulders": "shoulder",
            "thighs": "thigh", "shins": "shin", "forearms": "forearm", "upper_arms": "upper_arm",
            "buttocks": "butt", "bottom": "butt"}.get(name, name)


def region_choices(name: str, known: Sequence[str]) -> list[str]:
    """The body-model regions a constraint's region name may mean: two for a side-less chiral
    part, the union for '/'-separated alternatives ("hand/arm"), one otherwise; ValueError for
    an unknown name."""
    choices: list[str] = []
    for part in str(name).split("/"):
        norm = _normalise(part)
        if norm in known:
            found = [norm]
        elif norm in CHIRAL_PARTS and f"left_{norm}" in known and f"right_{norm}" in known:
            found = [f"left_{norm}", f"right_{norm}"]
        else:
            vocabulary = sorted(set(known) | {p for p in CHIRAL_PARTS if f"left_{p}" in known})
            raise ValueError(f"unknown body region {part.strip()!r}; use one of: {', '.join(vocabulary)}")
        choices += [c for c in found if c not in choices]
    return choices


def samples_from_tables(tables: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Samples from Markdown tables as a vision-language model writes them (ProsePose's
    prompt): one table per sample, a row per touching pair, person 1's part in the first column
    and person 2's in the second; the header row (the one above the ``|---|`` line) is skipped
    and a table without rows is an empty sample. Region names are checked later."""
    samples = []
    for table in tables:
        rows = [line.strip() for line in str(table).splitlines() if "|" in line]
        cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
        rule = [k for k, row in enumerate(cells) if all(set(c) <= set("-: ") for c in row)]
        skip = set(rule) | {k - 1 for k in rule}
        samples.append([(row[0], row[1]) for k, row in enumerate(cells)
                        if k not in skip and len(row) >= 2 and row[0] and row[1]])
    return samples


def validate_constraint(c: ContactConstraint, ids: Sequence[int], known: Sequence[str]) -> None:
    """ValueError naming the problem when a constraint cannot be used with these people."""
    if not isinstance(c, ContactConstraint):
        raise ValueError(f"expected a ContactConstraint, got {type(c).__name__}")
    if int(c.id_a) == int(c.id_b):
        raise ValueError(f"contact constraint names person {c.id_a} twice")
    missing = [i for i in (int(c.id_a), int(c.id_b)) if i not in set(ids)]
    if missing:
        raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): no person with id "
                         f"{', '.join(map(str, missing))} (present: {sorted(ids)})")
    if not c.samples:
        raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}) has an empty sample list")
    if not any(len(s) for s in c.samples):
        raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): every sample is empty")
    for s in c.samples:
        for pair in s:
            if len(pair) != 2:
                raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): a region pair must "
                                 f"have two names, got {pair!r}")
            for name in pair:
                region_choices(name, known)
        readings = int(np.prod([len(region_choices(name, known)) for pair in s for name in pair]))
        if readings > MAX_READINGS:
            raise ValueError(f"contact constraint ({c.id_a}, {c.id_b}): a sample has {readings} "
                             f"left/right and alternative readings (at most {MAX_READINGS})")


def _sample_assignments(sample, known: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Every reading of one sample (a side for each side-less part, one of each set of
    alternatives), as lists of (region of a, region of b).

    When one person's part is named more than once in a sample, readings that give every
    mention the same region are skipped: "hand" twice means both hands (ProsePose's rule)."""
    flat = [region_choices(n, known) for pair in sample for n in pair]
    groups: dict[tuple[int, str], list[int]] = {}
    for k, choices in enumerate(flat):
        if len(choices) > 1:
            groups.setdefault((k % 2, _normalise(sample[k // 2][k % 2])), []).append(k)
    repeated = [ks for ks in groups.values() if len(ks) > 1]
    readings = []
    for combo in itertools.product(*flat):
        if any(len({combo[k] for k in ks}) < 2 for ks in repeated):
            continue
        readings.append([(combo[2 * i], combo[2 * i + 1]) for i in range(len(sample))])
    return readings or [[]]


def sphere_proxies(body: BodyModel) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inscribed spheres on the skeleton: (joint index a, joint index b, radius) per sphere,
    centred at the point halfway between joints a and b (a == b: at the joint); radius is the
    rest-pose distance from the centre to the nearest mesh vertex."""
    parents = body.parents
    pairs = [(j, j) for j in range(NUM_BODY_JOINTS_2D)]
    pairs += [(parents[j], j) for j in range(1, NUM_BODY_JOINTS_2D)]
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    joints = body.joint_template.detach().cpu()
    centres = 0.5 * (joints[a] + joints[b])                                        # (S, 3)
    radius = torch.cdist(centres, body.v_template.detach().cpu()).amin(1)          # (S,)
    return a, b, radius


def skew_generators(device=None) -> torch.Tensor:
    """(3, 9) matrix G with ``u @ G`` = the cross-product matrix [u]x, flattened."""
    g = torch.zeros(3, 3, 3)
    for axis, (i, j) in enumerate(((2, 1), (0, 2), (1, 0))):
        g[axis, i, j], g[axis, j, i] = 1.0, -1.0
    return g.reshape(3, 9).to(device)


def increment_rotation(w: torch.Tensor, generators: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of increments w (..., 3): the unit quaternion
    (1, w/2)/|(1, w/2)|, i.e. R = I + 2/(1+|u|^2) ([u]x + [u]x^2) with u = w/2 - an exact
    rotation by 2 atan(|w|/2) (about |w| for small w) about w, in a handful of ops (Rodrigues'
    series branches cost several times as many kernels per step)."""
    u = 0.5 * w
    scale = 2.0 / (1.0 + (u * u).sum(-1))                                             # (...)
    k = (u @ generators).view(*w.shape[:-1], 3, 3)                                    # (..., 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return eye + scale[..., None, None] * (k + k @ k)


def ancestor_tables(parents: Sequence[int]) -> list[list[int]]:
    """Ancestor index tables for forward kinematics by pointer jumping.

    Round r maps each joint to its 2^r-th ancestor, with a virtual identity joint (index J)
    standing for "above the root"; ceil(log2(depth + 1)) rounds cover the whole tree.
    """
    count = len(parents)
    anc = [p if p >= 0 else count for p in parents] + [count]
    tables = []
    while any(a != count for a in anc[:count]):
        tables.append(anc)
        anc = [anc[a] for a in anc]
    return tables


def chain_transforms(rot: torch.Tensor, rest_joints: torch.Tensor, parent_index: torch.Tensor,
                     tables: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotations (n, J, 3, 3) and positions (n, J, 3) of a kinematic tree in a few
    batched products: each round composes every joint's transform with that of its 2^r-th
    ancestor (pointer jumping), instead of one step per tree level. Fewer, larger kernels;
    that is what a launch-bound optimisation step on a GPU needs."""
    n, J = rot.shape[:2]
    local_t = rest_joints - rest_joints.index_select(1, parent_index)                 # (n, J, 3)
    local_t = torch.cat([rest_joints[:, :1], local_t[:, 1:]], 1)
    top = torch.cat([rot, local_t.unsqueeze(-1)], -1)                                  # (n, J, 3, 4)
    eye = torch.eye(4, dtype=rot.dtype, device=rot.device)  # made on the device: capturable
    bottom = eye[3:].expand(n, J, 1, 4)                                                 # [0, 0, 0, 1]
    eye = eye.expand(n, 1, 4, 4)
    A = torch.cat([torch.cat([top, bottom], 2), eye], 1)                               # (n, J+1, 4, 4)
    for table in tables:
        A = A.index_select(1, table) @ A
    return A[:, :J, :3, :3], A[:, :J, :3, 3]


class _Problem:
    """Tensors of one refinement: people, terms, readings; ``step`` is one Adam iteration."""

    def __init__(self, refiner: "ContactRefiner", people: list[PersonEstimate], index: list[int],
                 constraints: list[ContactConstraint], K: np.ndarray) -> None:
        dev, body, cfg = refiner.device, refiner.body, refiner.config
        self.source = (people, index, constraints, K)
        self.cfg = cfg
        self.refiner = refiner
        sel = [people[i] for i in index]
        n = len(sel)
        f32 = lambda a: torch.as_tensor(np.stack(a), dtype=torch.float32, device=dev)  # noqa: E731
        aa = lambda name: f32([getattr(p, name) for p in sel])                        # noqa: E731
        rot = pose_from_axis_angle(aa("global_orient"), aa("body_pose"), aa("left_hand_pose"),
                                   aa("right_hand_pose"), aa("jaw_pose"))
        eye = torch.eye(3, device=dev).expand(n, 3, 3)
        self.rot0 = body._rotations(n, rot["global_orient"], rot["body_pose"], rot["left_hand_pose"],
                                    rot["right_hand_pose"], rot["jaw_pose"], eye, eye)   # (n, 55, 3, 3)
        betas = torch.zeros(n, body.num_betas, device=dev)
        b = aa("betas")
        betas[:, :min(b.shape[1], body.num_betas)] = b[:, :body.num_betas]
        expr = torch.zeros(n, body.num_expression, device=dev)
        e = aa("expression")
        expr[:, :min(e.shape[1], body.num_expression)] = e[:, :body.num_expression]
        coeffs = torch.cat([betas, expr], 1)                                          # (n, Kc)
        self.rest_joints = body.joint_template + (coeffs @ body.joint_shape_basis).view(n, -1, 3)
        sub = refiner.subset                                                          # (S,)
        basis = body.shape_basis.view(-1, body.v_template.shape[0], 3)[:, sub]       # (Kc, S, 3)
        self.v_shaped = body.v_template[sub] + torch.einsum("nk,ksc->nsc", coeffs, basis)
        pose_feat = (self.rot0[:, 1:] - torch.eye(3, device=dev)).reshape(n, -1)      # (n, 486)
        self.v_posed_fixed = self.v_shaped + (pose_feat @ refiner.pose_basis_subset).view(n, -1, 3)
        self.transl0 = aa("transl")                                                   # (n, 3)
        self.K = torch.as_tensor(K, dtype=torch.float32, device=dev)

        # Terms (person a, region a, person b, region b) and readings of every sample.
        pos = {int(people[i].track_id): k for k, i in enumerate(index)}
        names = refiner.region_names
        terms: dict[tuple[int, int, int, int], int] = {}
        readings, sample_readings, sample_weight = [], [], []
        for c in constraints:
            pa, pb = pos[int(c.id_a)], pos[int(c.id_b)]
            for s in c.samples:
                first = len(readings)
                for reading in _sample_assignments(s, names):
                    readings.append([terms.setdefault((pa, names.index(ra), pb, names.index(rb)),
                                                      len(terms)) for ra, rb in reading])
                sample_readings.append(list(range(first, len(readings))))
                sample_weight.append(1.0 / len(c.samples))
        self.term_count = len(terms)
        t = torch.tensor(list(terms), dtype=torch.long).reshape(-1, 4)
        self.term_a, self.term_ra, self.term_b, self.term_rb = (t[:, i].to(dev) for i in range(4))
        width = max(1, max(len(r) for r in readings))
        self.reading_terms = torch.tensor([r + [len(terms)] * (width - len(r)) for r in readings],
                                          device=dev)                                # (A, Tm)
        width = max(len(r) for r in sample_readings)
        self.sample_readings = torch.tensor([r + [len(readings)] * (width - len(r))
                                             for r in sample_readings], device=dev)  # (S, Am)
        self.sample_weight = torch.tensor(sample_weight, device=dev)                  # (S,)
        # Constraint -> its samples, for reporting.
        self.constraint_samples = []
        k = 0
        for c in constraints:
            self.constraint_samples.append(list(range(k, k + len(c.samples))))
            k += len(c.samples)
        pairs = sorted({(pos[int(c.id_a)], pos[int(c.id_b)]) for c in constraints})
        self.pen_a = torch.tensor([p[0] for p in pairs], device=dev)
        self.pen_b = torch.tensor([p[1] for p in pairs], device=dev)

        # Optimised: increments of the 21 body-joint rotations and of the translation.
        self.x = torch.zeros(n, layout.NUM_BODY_JOINTS * 3 + 3, device=dev)
        lr = torch.full_like(self.x, cfg.pose_lr)
        lr[:, -3:] = cfg.transl_lr
        self.lr = lr
        self.m = torch.zeros_like(self.x)
        self.v = torch.zeros_like(self.x)
        self.t = torch.zeros((), device=dev)
        with torch.no_grad():
            _, joints = self.pose(self.x)
            self.uv0 = project_points(joints[:, :NUM_BODY_JOINTS_2D], self.K)          # (n, 22, 2)

    def signature(self) -> tuple:
        """What a captured CUDA graph depends on besides the tensor values (the loss weights
        are baked into it as constants)."""
        return (self.cfg, tuple(self.x.shape), self.term_count, tuple(self.reading_terms.shape),
                tuple(self.sample_readings.shape), tuple(self.pen_a.shape))

    def pose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled region vertices (n, S, 3) and the 55 joints (n, 55, 3), camera frame."""
        n = x.shape[0]
        delta = increment_rotation(x[:, :-3].view(n, layout.NUM_BODY_JOINTS, 3),
                                   self.refiner.generators)                           # (n, 21, 3, 3)
        body_rot = self.rot0[:, 1:1 + layout.NUM_BODY_JOINTS] @ delta
        rot = torch.cat([self.rot0[:, :1], body_rot, self.rot0[:, 1 + layout.NUM_BODY_JOINTS:]], 1)
        # Pose correctives are linear in (R - I): the part of the fixed joints is precomputed,
        # the change of the body joints added.
        feat = (body_rot - self.rot0[:, 1:1 + layout.NUM_BODY_JOINTS]).reshape(n, -1)  # (n, 189)
        v_posed = self.v_posed_fixed + (feat @ self.refiner.pose_basis_body).view(n, -1, 3)
        world_rot, world_pos = chain_transforms(rot, self.rest_joints, self.refiner.parent_index,
                                                self.refiner.ancestors)               # (n, 55, ...)
        offset = world_pos - (world_rot @ self.rest_joints.unsqueeze(-1)).squeeze(-1)
        transforms = torch.cat([world_rot.reshape(n, -1, 9), offset], -1)             # (n, 55, 12)
        blended = torch.matmul(self.refiner.weights_subset, transforms)               # (n, S, 12)
        verts = (torch.einsum("nsij,nsj->nsi", blended[..., :9].reshape(n, -1, 3, 3), v_posed)
                 + blended[..., 9:])
        transl = (self.transl0 + x[:, -3:]).unsqueeze(1)
        return verts + transl, world_pos + transl

    def term_distances(self, verts: torch.Tensor) -> torch.Tensor:
        """Minimum distance of every term's two sampled regions (T,)."""
        n, R, Kp = verts.shape[0], *self.refiner.samples_local.shape
        pts = verts[:, self.refiner.samples_local.reshape(-1)].view(n, R, Kp, 3)     # (n, R, K, 3)
        a = pts[self.term_a, self.term_ra]                                            # (T, K, 3)
        b = pts[self.term_b, self.term_rb]
        return torch.cdist(a, b).flatten(1).amin(1)                                    # (T,)

    def contact_per_sample(self, dist: torch.Tensor) -> torch.Tensor:
        """(S,) minimum over left/right readings of the summed term distances."""
        padded = torch.cat([dist, dist.new_zeros(1)])
        per_reading = padded[self.reading_terms].sum(1)                                # (A,)
        per_reading = torch.cat([per_reading, per_reading.new_full((1,), float("inf"))])
        return per_reading[self.sample_readings].amin(1)                               # (S,)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        verts, joints = self.pose(x)
        dist = (self.term_distances(verts) - cfg.contact_margin).clamp(min=0.0)
        contact = (self.contact_per_sample(dist) * self.sample_weight).sum()
        uv = project_points(joints[:, :NUM_BODY_JOINTS_2D], self.K)
        reprojection = (uv - self.uv0).square().sum(-1).mean()
        pose = x[:, :-3].square().mean()
        sa, sb, radius = self.refiner.spheres
        centres = 0.5 * (joints[:, sa] + joints[:, sb])                                # (n, Sp, 3)
        gap = torch.cdist(centres[self.pen_a], centres[self.pen_b])                     # (P, Sp, Sp)
        overlap = (radius[:, None] + radius[None, :] - gap).clamp(min=0.0)
        penetration = overlap.square().sum() / max(1, self.pen_a.shape[0])
        return (cfg.contact_weight * contact + cfg.reprojection_weight * reprojection
                + cfg.pose_weight * pose + cfg.penetration_weight * penetration)

    def step(self) -> None:
        """One Adam step on ``x``, in place (no host synchronisation)."""
        x = self.x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.loss(x), x)
        b1, b2 = 0.9, 0.999
        with torch.no_grad():
            self.t.add_(1.0)
            self.m.mul_(b1).add_(grad, alpha=1 - b1)
            self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            m_hat = self.m / (1 - torch.pow(b1, self.t))
            v_hat = self.v / (1 - torch.pow(b2, self.t))
            # Step sizes decay linearly to a tenth over the budget: large moves first, then
            # settling instead of oscillating around the hinge of the contact term.
            decay = 1.0 - 0.9 * (self.t - 1.0) / max(1, self.cfg.iterations - 1)
            self.x.sub_(decay * self.lr * m_hat / (v_hat.sqrt() + 1e-8))

    @torch.no_grad()
    def contact_distances(self) -> list[float]:
        """Contact loss (no margin) of every constraint at the current ``x``, metres."""
        verts, _ = self.pose(self.x)
        per_sample = self.contact_per_sample(self.term_distances(verts)).cpu().numpy()
        return [float(per_sample[s].mean()) for s in self.constraint_samples]

    def load(self, other: "_Problem") -> None:
        """Copy another problem of the same signature into this one's tensors (graph reuse)."""
        for name in ("rot0", "rest_joints", "v_shaped", "v_posed_fixed", "transl0", "K", "term_a",
                     "term_ra", "term_b", "term_rb", "reading_terms", "sample_readings",
                     "sample_weight", "pen_a", "pen_b", "x", "lr", "m", "v", "t", "uv0"):
            getattr(self, name).copy_(getattr(other, name))
        self.constraint_samples = other.constraint_samples


class ContactRefiner:
    """Runs contact refinements on the body model's device (see the module docstring)."""

    def __init__(self, body: BodyModel, config: RefineConfig = RefineConfig()) -> None:
        self.body = body
        self.config = config
        self.device = body.v_template.device
        regions = body.regions
        self.region_names = list(regions.names)
        rest = body.v_template.detach().cpu().numpy()
        per_region = []
        for name in self.region_names:
            ids = regions.vertex_ids(name).cpu().numpy()
            per_region.append(ids[farthest_point_samples(rest[ids], config.points_per_region)])
        samples = np.stack(per_region)                                                # (R, K)
        subset, local = np.unique(samples, return_inverse=True)
        dev = self.device
        self.subset = torch.as_tensor(subset, device=dev)                            # (S,)
        self.samples_local = torch.as_tensor(local.reshape(samples.shape), device=dev)
        V = body.v_template.shape[0]
        pose_basis = body.pose_basis.view(-1, V, 3)[:, self.subset]                   # (486, S, 3)
        self.pose_basis_subset = pose_basis.reshape(pose_basis.shape[0], -1)          # (486, S*3)
        self.pose_basis_body = self.pose_basis_subset[:layout.NUM_BODY_JOINTS * 9]    # (189, S*3)
        self.weights_subset = body.lbs_weights[self.subset]                          # (S, 55)
        parents = body.parents
        self.parent_index = torch.tensor([max(p, 0) for p in parents], device=dev)
        self.generators = skew_generators(dev)
        self.ancestors = [torch.tensor(t, device=dev) for t in ancestor_tables(parents)]
        sa, sb, radius = sphere_proxies(body)
        self.spheres = (sa.to(dev), sb.to(dev), radius.to(dev))
        self._graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, _Problem]] = {}

    def check(self, people: Sequence[PersonEstimate], constraints: Sequence[ContactConstraint]) -> None:
        """ValueError naming the problem for input that cannot be refined."""
        ids = [int(p.track_id) for p in people]
        if len(set(ids)) != len(ids):
            raise ValueError(f"people must have distinct track ids, got {ids}")
        if not constraints:
            raise ValueError("no contact constraint given")
        for c in constraints:
            validate_constraint(c, ids, self.region_names)

    def refine(self, people: Sequence[PersonEstimate], constraints: Sequence[ContactConstraint],
               K) -> RefineResult:
        """Refine the constrained people; ValueError for bad input (nothing is changed then)."""
        people = list(people)
        self.check(people, constraints)
        K = np.asarray(K, np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)):
            raise ValueError(f"K must be a finite (3, 3) matrix, got shape {K.shape}")
        clock = time.perf_counter()
        ids = [int(p.track_id) for p in people]
        involved = sorted({ids.index(int(i)) for c in constraints for i in (c.id_a, c.id_b)})
        problem = _Problem(self, people, involved, list(constraints), K)
        before = problem.contact_distances()                                         # syncs
        timings = {"setup": time.perf_counter() - clock}
        lap = time.perf_counter()
        problem = self._optimise(problem)
        self._sync()
        timings["optimise"] = time.perf_counter() - lap
        lap = time.perf_counter()
        after = problem.contact_distances()
        refined = self._finish(people, involved, problem)
        self._sync()
        timings["finish"] = time.perf_counter() - lap
        seconds = time.perf_counter() - clock
        change = np.concatenate([np.linalg.norm(refined[i].joints_2d[:NUM_BODY_JOINTS_2D]
                                                - people[i].joints_2d[:NUM_BODY_JOINTS_2D], axis=1)
                                 for i in involved])
        return RefineResult(people=refined, contact_before=before, contact_after=after,
                            reprojection_change_px=float(change.mean()),
                            max_reprojection_change_px=float(change.max()),
                            iterations=self.config.iterations, seconds=seconds, timings=timings)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _optimise(self, problem: _Problem) -> _Problem:
        if self.device.type != "cuda" or not self.config.cuda_graph:
            for _ in range(self.config.iterations):
                problem.step()
            return problem
        key = problem.signature()
        if key not in self._graphs:
            try:
                self._graphs[key] = (self._capture(problem), problem)
            except RuntimeError as exc:  # e.g. an op that cannot be captured: run eagerly
                LOG.warning("CUDA graph capture of the refinement step failed (%s); running "
                            "without graphs", exc)
                self.config = replace(self.config, cuda_graph=False)
                problem = _Problem(self, *problem.source)
                return self._optimise(problem)
            # The warm-up steps of the capture moved x: start from the decoder's pose again.
            problem.x.zero_(), problem.m.zero_(), problem.v.zero_(), problem.t.zero_()
        graph, static = self._graphs[key]
        if static is not problem:
            static.load(problem)
        for _ in range(self.config.iterations):
            graph.replay()
        return static

    def _capture(self, problem: _Problem) -> torch.cuda.CUDAGraph:
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                problem.step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            problem.step()
        return graph

    @torch.no_grad()
    def _finish(self, people: list[PersonEstimate], involved: list[int], problem: _Problem) -> list[PersonEstimate]:
        """Refined people posed with the full body model."""
        n = len(involved)
        delta = increment_rotation(problem.x[:, :-3].view(n, layout.NUM_BODY_JOINTS, 3),
                                   self.generators)
        body_rot = problem.rot0[:, 1:1 + layout.NUM_BODY_JOINTS] @ delta
        body_aa = matrix_to_axis_angle(body_rot).cpu().numpy()                        # (n, 21, 3)
        transl = (problem.transl0 + problem.x[:, -3:]).cpu().numpy()
        out = list(people)
        for k, i in enumerate(involved):
            out[i] = replace(people[i], body_pose=body_aa[k], transl=transl[k])
        posed = pose_people(self.body, [out[i] for i in involved], problem.K.cpu().numpy(),
                            with_vertices=any(people[i].vertices is not None for i in involved))
        for k, i in enumerate(involved):
            out[i] = posed[k]
        return out


@torch.no_grad()
def pose_people(body: BodyModel, people: Sequence[PersonEstimate], K, with_vertices: bool = True) -> list[PersonEstimate]:
    """People with joints_3d, joints_2d (and vertices) recomputed from their parameters in one
    batched forward of ``body`` (after a change of pose or translation)."""
    if not people:
        return []
    dev = body.v_template.device
    f32 = lambda name: torch.as_tensor(np.stack([getattr(p, name) for p in people]),  # noqa: E731
                                       dtype=torch.float32, device=dev)
    rot = pose_from_axis_angle(f32("global_orient"), f32("body_pose"), f32("left_hand_pose"),
                               f32("right_hand_pose"), f32("jaw_pose"))
    fit = lambda v, k: torch.nn.functional.pad(v, (0, max(0, k - v.shape[1])))[:, :k]  # noqa: E731
    out = body(**rot, betas=fit(f32("betas"), body.num_betas),
               expression=fit(f32("expression"), body.num_expression), transl=f32("transl"))
    joints = out.joints[:, :people[0].joints_3d.shape[0]]
    uv = project_points(joints, torch.as_tensor(np.asarray(K), dtype=torch.float32, device=dev))
    joints, uv = joints.cpu().numpy(), uv.cpu().numpy()
    verts = out.vertices.cpu().numpy() if with_vertices else None
    return [replace(p, joints_3d=joints[k], joints_2d=uv[k],
                    vertices=None if verts is None else verts[k]) for k, p in enumerate(people)]


RefineCallback = Callable[[list, float], None]


class RefineWorker:
    """Refinement on a thread: ``submit`` returns at once; the latest request wins.

    A request that arrives while another waits replaces it (the replaced one is counted); a
    request with bad constraints is refused at ``submit`` (each bad constraint logged and
    returned as a Drop; the valid ones of the same request still run) and never disturbs the
    request in progress or waiting. Results go to ``callback(people, stamp)`` on the worker
    thread; an exception in a refinement is logged and the worker carries on.
    """

    def __init__(self, refiner: ContactRefiner, callback: RefineCallback,
                 logger: logging.Logger | None = None) -> None:
        self.refiner = refiner
        self.callback = callback
        self.log = logger or LOG
        self.counts = {"submitted": 0, "replaced": 0, "rejected": 0, "completed": 0, "failed": 0}
        self.last_result: RefineResult | None = None
        self._pending = None
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="contact-refine", daemon=True)
        self._thread.start()

    def submit(self, people: Sequence[PersonEstimate], constraints: Sequence[ContactConstraint],
               K, stamp) -> list[Drop]:
        """Queue a refinement of ``people`` under ``constraints``; returns what was refused."""
        drops, good = [], []
        ids = [int(p.track_id) for p in people]
        for c in constraints:
            try:
                validate_constraint(c, ids, self.refiner.region_names)
                good.append(c)
            except ValueError as exc:
                drops.append(Drop("contact_constraint_invalid", str(exc)))
        if len(set(ids)) != len(ids):
            drops.append(Drop("contact_people_invalid", f"people must have distinct track ids, got {ids}"))
            good = []
        if not constraints:
            drops.append(Drop("contact_constraint_invalid", "no contact constraint given"))
        for d in drops:
            self.log.warning("contact refinement: %s", d)
        with self._cond:
            self.counts["rejected"] += len(drops)
            if not good or self._closed:
                return drops
            self.counts["submitted"] += 1
            if self._pending is not None:
                self.counts["replaced"] += 1
            self._pending = (list(people), good, np.asarray(K, np.float64), stamp)
            self._cond.notify()
        return drops

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    return
                people, constraints, K, stamp = self._pending
                self._pending, self._busy = None, True
            try:
                result = self.refiner.refine(people, constraints, K)
                self.last_result = result
                self.callback(result.people, stamp)
                with self._cond:
                    self.counts["completed"] += 1
            except Exception:  # a robot's node keeps running; the failure is logged
                self.log.exception("contact refinement failed")
                with self._cond:
                    self.counts["failed"] += 1
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
