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
forward kinematics; the final people are posed with the full model. The whole optimisation
(every step's forward, backward and Adam update) has fixed shapes and no host
synchronisation, so on CUDA it is captured as ONE CUDA graph per problem layout (people count,
padded constraint size, config) and later calls copy their inputs in and replay it: the step
is a few hundred tiny kernels, and launching them one by one from Python costs ~20 times more
than running them. ``RefineConfig.compile`` additionally fuses the loss and its gradient with
``torch.compile`` (CUDA only; compiled on the first call of a layout).

:class:`RefineWorker` runs refinements on a thread (latest request wins; ``submit`` never
blocks) and delivers the refined people with the source stamp.
"""
from __future__ import annotations

import contextlib
import itertools
import logging
import math
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
from ros_phmr.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
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

    25 iterations: two people refine in 18-20 ms on one H200 (CUDA graph, measured with the
    final posing still outside the graph, which cost 4-5 ms of that) with every contact scene's
    touching parts within 7 mm (40 iterations: within 3 mm, 30 ms); see
    bench/results/2026-11-21_h200_refine_bd8e74a.json.

    ``contact_margin`` (m): distances below it cost nothing (surfaces this close touch).
    ``reprojection_weight`` applies to the mean squared pixel change of the body joints,
    ``pose_weight`` to the mean squared rotation increment (rad^2), ``penetration_weight`` to
    squared sphere overlaps (m^2).
    """

    iterations: int = 25
    pose_lr: float = 0.03
    transl_lr: float = 0.01
    contact_weight: float = 100.0
    contact_margin: float = 0.005
    reprojection_weight: float = 0.5
    pose_weight: float = 10.0
    penetration_weight: float = 1e4
    points_per_region: int = 48
    cuda_graph: bool = True
    compile: bool = False

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
    series branches cost several times as many kernels per step). ``generators``: the
    :func:`skew_generators` times 0.5 (so that ``w @ generators`` is [u]x directly)."""
    scale = 8.0 / (4.0 + (w * w).sum(-1))                                             # 2/(1+|u|^2)
    k = (w @ generators).view(*w.shape[:-1], 3, 3)                                    # (..., 3, 3)
    eye = torch.eye(3, dtype=w.dtype, device=w.device)
    return torch.addcmul(eye, scale[..., None, None], k + k @ k)


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


class ContactRefiner:
    """Runs contact refinements on the body model's device (see the module docstring)."""

    def __init__(self, body: BodyModel, config: RefineConfig = RefineConfig()) -> None:
        self.body = body
        self.config = config
        self.device = dev = body.v_template.device
        regions = body.regions
        self.region_names = list(regions.names)
        rest = body.v_template.detach().cpu().numpy()
        per_region = []
        for name in self.region_names:
            ids = regions.vertex_ids(name).cpu().numpy()
            per_region.append(ids[farthest_point_samples(rest[ids], config.points_per_region)])
        samples = np.stack(per_region)                                                # (R, Kp)
        subset, local = np.unique(samples, return_inverse=True)
        self.subset = torch.as_tensor(subset, device=dev)                            # (S,)
        self.subset_size = len(subset)
        self.samples_local_host = local.reshape(samples.shape)                        # (R, Kp)
        V, S, J = body.v_template.shape[0], len(subset), len(body.parents)
        self.v_template_subset = body.v_template[self.subset]                         # (S, 3)
        self.shape_basis_subset = body.shape_basis.view(-1, V, 3)[:, self.subset].reshape(-1, S * 3)
        pose_basis = body.pose_basis.view(-1, V, 3)[:, self.subset]                   # (486, S, 3)
        self.pose_basis_subset = pose_basis.reshape(pose_basis.shape[0], -1)          # (486, S*3)
        body_basis = pose_basis[:layout.NUM_BODY_JOINTS * 9]                          # (189, S, 3)
        self.pose_basis_body_h = torch.nn.functional.pad(body_basis, (0, 1)).reshape(len(body_basis), -1)
        self.weights_h = torch.nn.functional.pad(body.lbs_weights[self.subset], (0, 1))  # (S, J+1)
        parents = body.parents
        self.parent_index = torch.tensor([max(p, 0) for p in parents], device=dev)
        self.half_generators = 0.5 * skew_generators(dev)
        self.ancestors = [torch.tensor(t, device=dev) for t in ancestor_tables(parents)]
        sa, sb, radius = sphere_proxies(body)
        matrix = torch.zeros(len(sa), J + 1)
        matrix[torch.arange(len(sa)), sa] += 0.5
        matrix[torch.arange(len(sa)), sb] += 0.5
        self.sphere_matrix = matrix.to(dev)                                           # (Sp, J+1)
        self.radius_sum = (radius[:, None] + radius[None, :]).to(dev)                 # (Sp, Sp)
        self._graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, _Problem]] = {}
        # Its own CUDA stream: a refinement overlaps the pipeline's GPU work instead of queuing
        # behind it (and holding the next frame back) on the default stream.
        self._stream = torch.cuda.Stream(dev) if dev.type == "cuda" else None

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
        source = (people, involved, list(constraints), K)
        host = _host_inputs(self, *source)
        timings = {"setup": time.perf_counter() - clock}
        with contextlib.nullcontext() if self._stream is None else torch.cuda.stream(self._stream):
            lap = time.perf_counter()
            problem = self._optimise(source, host)
            before, after = problem.before.cpu().numpy(), problem.after.cpu().numpy()  # syncs
            timings["optimise"] = time.perf_counter() - lap
            lap = time.perf_counter()
            refined = self._finish(people, involved, problem)
            timings["finish"] = time.perf_counter() - lap
        seconds = time.perf_counter() - clock
        change = np.concatenate([np.linalg.norm(refined[i].joints_2d[:NUM_BODY_JOINTS_2D]
                                                - people[i].joints_2d[:NUM_BODY_JOINTS_2D], axis=1)
                                 for i in involved])
        per = problem.constraint_samples
        return RefineResult(people=refined, contact_before=[float(before[s].mean()) for s in per],
                            contact_after=[float(after[s].mean()) for s in per],
                            reprojection_change_px=float(change.mean()),
                            max_reprojection_change_px=float(change.max()),
                            iterations=self.config.iterations, seconds=seconds, timings=timings)

    def _optimise(self, source: tuple, host: tuple) -> _Problem:
        """The optimised problem: run eagerly, or (CUDA) the layout's graph replayed after
        copying the inputs into its buffers - captured first if the layout is new."""
        if self.device.type != "cuda" or not self.config.cuda_graph:
            problem = _Problem(self, *source, host=host)
            problem.run()
            return problem
        key = _signature(self.config, host[0])
        if key not in self._graphs:
            problem = _Problem(self, *source, host=host)
            try:
                self._graphs[key] = (self._capture(problem), problem)
            except RuntimeError as exc:  # e.g. an op that cannot be captured: run eagerly
                LOG.warning("CUDA graph capture of the refinement failed (%s); running without "
                            "graphs", exc)
                self.config = replace(self.config, cuda_graph=False, compile=False)
                return self._optimise(source, _host_inputs(self, *source))
        graph, static = self._graphs[key]
        static.fill((host[0], host[1], source))
        graph.replay()
        return static

    def _capture(self, problem: _Problem) -> torch.cuda.CUDAGraph:
        """One CUDA graph of the whole optimisation, after an eager warm-up run on a side
        stream (autograd, cuBLAS workspaces, compiled kernels are made there)."""
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            problem.run()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the pipeline may use the GPU from another thread during the capture.
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            problem.run()
        return graph

    @staticmethod
    def _finish(people: list[PersonEstimate], involved: list[int], problem: _Problem) -> list[PersonEstimate]:
        """The refined people, read back from the problem's final buffers."""
        body_aa = problem.final_body_aa.cpu().numpy()                                 # (n, 21, 3)
        transl = problem.final_transl.cpu().numpy().astype(np.float64)                # (n, 3)
        joints, uv = problem.final_joints.cpu().numpy(), problem.final_uv.cpu().numpy()
        with_vertices = any(people[i].vertices is not None for i in involved)
        verts = problem.final_vertices.cpu().numpy() if with_vertices else None
        out = list(people)
        for k, i in enumerate(involved):
            count = people[i].joints_3d.shape[0]
            out[i] = replace(people[i], body_pose=body_aa[k], transl=transl[k], joints_3d=joints[k, :count],
                             joints_2d=uv[k, :count], vertices=None if verts is None else verts[k])
        return out


@torch.no_grad()
def pose_people(body: BodyModel, people: Sequence[PersonEstimate], K, with_vertices: bool = True) -> list[PersonEstimate]:
    """People with joints_3d, joints_2d (and vertices) recomputed from their parameters in one
    batched forward of ``body`` (after a change of pose or translation)."""
    if not people:
        return []
    dev = body.v_template.device
    f32 = lambda name: torch.as_tensor(np.stack([getattr(p, name) for p in people]),  # noqa: E731
                                       dtype=torch.float32)
    # Rotations on the host (dozens of tiny ops), then one copy each to the device.
    rot = {k: v.to(dev) for k, v in pose_from_axis_angle(
        f32("global_orient"), f32("body_pose"), f32("left_hand_pose"), f32("right_hand_pose"),
        f32("jaw_pose")).items()}
    fit = lambda v, k: torch.nn.functional.pad(v, (0, max(0, k - v.shape[1])))[:, :k]  # noqa: E731
    out = body(**rot, betas=fit(f32("betas"), body.num_betas).to(dev),
               expression=fit(f32("expression"), body.num_expression).to(dev),
               transl=f32("transl").to(dev))
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
