"""Contact scenes of two synthetic bodies, and the contact-refinement benchmark built on them.

Scenes are posed explicitly (joint rotations and translations written out below) in the camera
optical frame (x right, y down, z forward), people about 3 m from the camera: hand on shoulder,
handshake, hug, and two people 20 cm apart. The second person is then moved until the intended
parts touch, by bisection on the brute-force (KD-tree, all vertices) surface distance.

The benchmark perturbs a scene as a monocular estimate would be wrong (the second person pushed
back along its camera ray, joint rotations jittered), refines it with the scene's coarse
constraint and reports time, contact distance before/after (exact, all region vertices) and the
2D joint change.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ros_phmr.bench import write_report
from ros_phmr.body import BodyModel, layout
from ros_phmr.people import PersonEstimate
from ros_phmr.refine import ContactConstraint, ContactRefiner, RefineConfig, pose_people
from ros_phmr.runtime.device import resolve_device

J = {name: i - 1 for i, name in enumerate(layout.JOINT_NAMES[:22])}  # body_pose row of a joint
SCENES = ("hand_on_shoulder", "handshake", "hug", "apart_20cm")
DEFAULT_K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])

# Model frame: y up, the body faces +z, its left is +x. Camera frame: y down, z forward.
_FACING = {
    "camera": Rotation.from_rotvec([math.pi, 0, 0]),
    "right": Rotation.from_rotvec([0, -math.pi / 2, 0]) * Rotation.from_rotvec([math.pi, 0, 0]),
    "left": Rotation.from_rotvec([0, math.pi / 2, 0]) * Rotation.from_rotvec([math.pi, 0, 0]),
}


def make_person(body: BodyModel, track_id: int, facing: str, body_pose: np.ndarray,
                transl, K=DEFAULT_K) -> PersonEstimate:
    """A posed person: ``facing`` 'camera', 'right' (+x) or 'left' (-x)."""
    z = np.zeros
    p = PersonEstimate(track_id=track_id, score=1.0, box_xyxy=np.array([0.0, 0.0, 1.0, 1.0]),
                       global_orient=_FACING[facing].as_rotvec(), body_pose=body_pose,
                       left_hand_pose=z((15, 3)), right_hand_pose=z((15, 3)), jaw_pose=z(3),
                       betas=z(10), expression=z(10), transl=np.asarray(transl, float),
                       joints_3d=z((127, 3)), joints_2d=z((127, 2)), vertices=z((10475, 3)))
    p = pose_people(body, [p], K)[0]
    uv = p.vertices[:, :2] / p.vertices[:, 2:] * K[0, 0] + K[:2, 2]
    return replace(p, box_xyxy=np.concatenate([uv.min(0), uv.max(0)]))


def region_vertices(body: BodyModel, person: PersonEstimate, region: str) -> np.ndarray:
    return person.vertices[body.regions.vertex_ids(region).cpu().numpy()]


def region_distance(body: BodyModel, a: PersonEstimate, ra: str, b: PersonEstimate, rb: str) -> float:
    """Exact minimum vertex distance between region ``ra`` of a and ``rb`` of b (KD-tree)."""
    d, _ = cKDTree(region_vertices(body, b, rb)).query(region_vertices(body, a, ra))
    return float(d.min())


def _place(body: BodyModel, a: PersonEstimate, probe: str | None, b: PersonEstimate, make_b,
           far: float, near: float, gap: float = 0.001, steps: int = 24) -> PersonEstimate:
    """b slid along x (b's pose kept): bisection on the shift s in [near, far] for the largest
    s at which region ``probe`` of a (None: all of a) comes within ``gap`` of b's surface;
    ``make_b(x)`` poses b at x."""
    tree = cKDTree(b.vertices)
    pts = a.vertices if probe is None else region_vertices(body, a, probe)
    x0 = float(b.transl[0])

    def touching(x: float) -> bool:
        shifted = pts - np.array([x - x0, 0.0, 0.0])
        return tree.query(shifted, distance_upper_bound=gap * (1 + 1e-6))[0].min() <= gap

    lo, hi = near, far  # touching(lo) is True, touching(hi) is False
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if touching(mid) else (lo, mid)
    return make_b(lo)


def _pose(**rows) -> np.ndarray:
    pose = np.zeros((21, 3))
    for name, aa in rows.items():
        pose[J[name]] = aa
    return pose


ARMS_DOWN = dict(left_shoulder=(0, 0, -1.3), right_shoulder=(0, 0, 1.3))
HUG_ARMS = dict(left_shoulder=(0, -1.1, 0), right_shoulder=(0, 1.1, 0),
                left_elbow=(0, -1.8, 0), right_elbow=(0, 1.8, 0))


def contact_scene(body: BodyModel, kind: str, K=DEFAULT_K):
    """Two people (ids 0 and 1) of a scene, the contact constraint a VLM would give for it
    (coarse names, no sides) and the region pairs that touch in it (with sides)."""
    if kind == "hand_on_shoulder":
        # A (left) reaches out with the left arm in T-pose; B, arms down and 5 cm lower,
        # stands to A's left; A's left hand lands on B's right shoulder.
        a = make_person(body, 0, "camera", _pose(right_shoulder=(0, 0, 1.3)), [-0.5, 0.0, 3.0], K)
        b_of = lambda x: make_person(body, 1, "camera", _pose(**ARMS_DOWN), [x, 0.05, 3.0], K)  # noqa: E731
        b = _place(body, a, "left_hand", b_of(1.2), b_of, far=1.2, near=0.3)
        samples = [[("hand", "shoulder")], [("hand", "shoulder")], [("hand", "arm")]]
        touching = [("left_hand", "right_shoulder")]
    elif kind == "handshake":
        # Face to face, right arms forward and turned 17 degrees in to meet in the middle.
        arm = _pose(right_shoulder=(0, math.pi / 2 + 0.3, 0), left_shoulder=(0, 0, -1.3))
        a = make_person(body, 0, "right", arm, [-0.4, 0.0, 3.0], K)
        b_of = lambda x: make_person(body, 1, "left", arm, [x, 0.0, 3.0], K)  # noqa: E731
        b = _place(body, a, "right_hand", b_of(1.5), b_of, far=1.5, near=-0.2)
        samples = [[("hand", "hand")], [("hand", "hand")], [("hand", "hand")]]
        touching = [("right_hand", "right_hand")]
    elif kind == "hug":
        # Face to face, chests meeting (placed with A's arms out of the way); then A's arms
        # reach forward and bend in around B's back, B's arms hang down.
        b_of = lambda x: make_person(body, 1, "left", _pose(**ARMS_DOWN), [x, 0.0, 3.0], K)  # noqa: E731
        a = make_person(body, 0, "right", _pose(), [-0.3, 0.0, 3.0], K)
        b = _place(body, a, "chest", b_of(0.6), b_of, far=0.6, near=-0.1)
        a = make_person(body, 0, "right", _pose(**HUG_ARMS), a.transl, K)
        samples = [[("chest", "chest"), ("hand", "back")], [("chest", "chest")], [("hand", "back")]]
        touching = [("chest", "chest")]
    elif kind == "apart_20cm":
        # Hand on shoulder's layout, B then moved right until the surfaces are 20 cm apart.
        a, b, _, _ = contact_scene(body, "hand_on_shoulder", K)
        b_of = lambda x: make_person(body, 1, "camera", _pose(**ARMS_DOWN), [x, 0.05, 3.0], K)  # noqa: E731
        b = _place(body, a, None, b, b_of, far=2.0, near=float(b.transl[0]), gap=0.2)
        samples, touching = [], []
    else:
        raise ValueError(f"unknown scene {kind!r}; known: {', '.join(SCENES)}")
    return a, b, ContactConstraint(0, 1, samples), touching


def perturb(body: BodyModel, people, K=DEFAULT_K, depth_shift: float = 0.20, jitter: float = 0.03,
            seed: int = 0):
    """A monocular estimate's typical error: the second person pushed back by ``depth_shift``
    (m) along its camera ray, every body-joint rotation jittered by ``jitter`` (rad)."""
    rng = np.random.default_rng(seed)
    out = []
    for k, p in enumerate(people):
        transl = p.transl * (1.0 + depth_shift / float(p.transl[2])) if k == 1 else p.transl
        pose = p.body_pose + rng.normal(0.0, jitter, p.body_pose.shape)
        out.append(pose_people(body, [replace(p, body_pose=pose, transl=transl)], K)[0])
    return out


def _timed(refiner: ContactRefiner, people, constraint, K, repeats: int):
    clock = time.perf_counter()
    refiner.refine(people, [constraint], K)  # warm-up (and CUDA graph capture)
    first = time.perf_counter() - clock
    times, parts = [], []
    for _ in range(repeats):
        result = refiner.refine(people, [constraint], K)
        times.append(result.seconds)
        parts.append(result.timings)
    return result, times, parts, first


def run_refine_bench(device: str = "cpu", scenes=("hand_on_shoulder", "handshake", "hug"),
                     config: RefineConfig = RefineConfig(), repeats: int = 5, seed: int = 0,
                     model_path: str | None = None) -> dict:
    """Time and quality of refining two perturbed people per scene (JSON-able dict).

    ``model_path``: SMPL-X file or folder (default: the synthetic model).
    """
    if model_path is None:
        from ros_phmr.demo import synthetic_model_path
        model_path = synthetic_model_path()
    scene_body = BodyModel.from_file(model_path)                  # CPU: scenes and exact checks
    refiner = ContactRefiner(BodyModel.from_file(model_path).to(device), config)
    K = DEFAULT_K
    out = {"device": device, "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
           "config": {k: getattr(config, k) for k in config.__dataclass_fields__}, "scenes": {}}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    for kind in scenes:
        a, b, constraint, touching = contact_scene(scene_body, kind, K)
        pa, pb = perturb(scene_body, [a, b], K, seed=seed)
        result, times, parts, first = _timed(refiner, [pa, pb], constraint, K, repeats)
        ra, rb = touching[0]
        ref_a, ref_b = result.people
        out["scenes"][kind] = {
            "constraint_samples": [[list(p) for p in s] for s in constraint.samples],
            "touching_pair": [ra, rb],
            "ms_median": 1000.0 * float(np.median(times)),
            "ms_min": 1000.0 * float(np.min(times)),
            "ms_first_call": 1000.0 * first,
            **{f"ms_{k}_median": 1000.0 * float(np.median([p[k] for p in parts])) for k in parts[0]},
            "contact_loss_before_m": result.contact_before[0],
            "contact_loss_after_m": result.contact_after[0],
            "touching_distance_ground_truth_m": region_distance(scene_body, a, ra, b, rb),
            "touching_distance_before_m": region_distance(scene_body, pa, ra, pb, rb),
            "touching_distance_after_m": region_distance(scene_body, ref_a, ra, ref_b, rb),
            "reprojection_change_px_mean": result.reprojection_change_px,
            "reprojection_change_px_max": result.max_reprojection_change_px,
        }
    # What actually ran (a failed capture falls back to eager) and how many graphs it took.
    out["cuda_graph_used"] = bool(refiner.config.cuda_graph and device.startswith("cuda"))
    out["compile_used"] = bool(refiner.config.compile and device.startswith("cuda"))
    out["graph_layouts"] = len(refiner._graphs)
    return out


def summarise(report: dict) -> dict:
    """Headline numbers of a :func:`main` report: median ms per refine (two people) per stage
    and scene, and the cost of one Adam step from the difference of two iteration budgets."""
    out: dict = {"ms_per_refine": {}}
    for name, stage in report.items():
        if "scenes" in stage:
            out["ms_per_refine"][name] = {k: round(sc["ms_median"], 3) for k, sc in stage["scenes"].items()}
    long, short = report.get("cuda_graph_40_iterations", {}), report.get("cuda_graph", {})
    if "scenes" in long and "scenes" in short:
        steps = long["config"]["iterations"] - short["config"]["iterations"]
        out["ms_per_step_cuda_graph"] = {
            k: round((long["scenes"][k]["ms_optimise_median"]
                      - short["scenes"][k]["ms_optimise_median"]) / steps, 4) for k in long["scenes"]}
    return out


def bench_command(args) -> int:
    """``ros-phmr bench --suite refine``: two perturbed people per contact scene refined
    (``--iterations``, ``--repeats``) on ``--device`` (auto: CUDA when there, with graphs
    unless ``--no-graphs``), printed and written to ``--json``."""
    device = str(resolve_device(args.device))
    config = RefineConfig(iterations=args.iterations or RefineConfig().iterations,
                          cuda_graph=not args.no_graphs)
    report = run_refine_bench(device, config=config, repeats=args.repeats,
                              model_path=str(args.smplx) if args.smplx else None)
    for kind, sc in report["scenes"].items():
        print(f"refine {kind} ({device}, {config.iterations} iterations): {sc['ms_median']:.2f} ms "
              f"median, contact {1000 * sc['touching_distance_before_m']:.1f} -> "
              f"{1000 * sc['touching_distance_after_m']:.1f} mm, 2D change "
              f"{sc['reprojection_change_px_mean']:.2f} px", flush=True)
    write_report(args.json, report)
    return 0


def main(argv=None) -> int:
    """``python -m ros_phmr.bench.refine_bench --out FILE``: CUDA graphs (default and 40 iterations),
    CUDA eager, CPU, then CUDA graphs with torch.compile (slow to compile, so last); each stage
    written as soon as it is done, so a run cut short keeps what it measured."""
    import argparse
    import json
    import sys
    import traceback

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default=None, help="SMPL-X file or folder (default: synthetic)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile stage")
    args = parser.parse_args(argv)
    slow = max(2, args.repeats // 4)
    stages = [("cpu", "cpu", RefineConfig(cuda_graph=False), slow)]
    if torch.cuda.is_available():
        stages = [("cuda_graph", "cuda", RefineConfig(), args.repeats),
                  ("cuda_graph_40_iterations", "cuda", RefineConfig(iterations=40), args.repeats),
                  ("cuda_eager", "cuda", RefineConfig(cuda_graph=False), slow)] + stages
        if not args.no_compile:
            stages.append(("cuda_graph_compiled_40_iterations", "cuda",
                           RefineConfig(iterations=40, compile=True), args.repeats))
    report = {}
    for name, device, config, repeats in stages:
        try:
            report[name] = run_refine_bench(device, config=config, repeats=repeats,
                                            model_path=args.model)
        except Exception:  # a benchmark reports what broke and carries on
            report[name] = {"error": traceback.format_exc()}
        report["summary"] = summarise({k: v for k, v in report.items() if k != "summary"})
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
        print(name, json.dumps({k: {m: round(v, 4) for m, v in sc.items() if isinstance(v, float)}
                                for k, sc in report[name].get("scenes", {}).items()}),
              report[name].get("error", ""), file=sys.stderr, flush=True)
    print(json.dumps(report["summary"], indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
