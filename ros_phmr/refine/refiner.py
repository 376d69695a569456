"""The contact refiner: configuration, results, and running a refinement on the body
model's device - eagerly, or as a replayed CUDA graph per problem layout (falling back, with a
warning, to eager runs when a capture fails).
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch

from ros_phmr.body import BodyModel, layout, pose_from_axis_angle
from ros_phmr.geometry.projection import project_points
from ros_phmr.interaction import farthest_point_samples
from ros_phmr.people import PersonEstimate
from ros_phmr.refine.constraints import ContactConstraint, validate_constraint
from ros_phmr.refine.kinematics import NUM_BODY_JOINTS_2D, ancestor_tables, skew_generators, sphere_proxies
from ros_phmr.refine.problem import _host_inputs, _Problem, _signature

LOG = logging.getLogger("ros_phmr.refine")


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



class ContactRefiner:
    """Runs contact refinements on the body model's device (see :mod:`ros_phmr.refine`)."""

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
