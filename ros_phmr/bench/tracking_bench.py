"""Tracking benchmark on generated walkers: id switches, fragmentation and MOTA-style numbers.

No network runs here: the tracker sees what a detector would report, generated from ground
truth. People walk on a ground plane in front of a camera and cross each other at different
depths; a person whose box is mostly covered by a nearer person's box is missed (an
occlusion, capped at ``max_occlusion`` consecutive frames, the length the tracker must
bridge), every detection is missed at random with ``miss_rate``, boxes and 3D roots get noise
(depth noise grows with distance, as monocular depth does), and random false detections
appear. Metrics follow CLEAR MOT (Bernardin & Stiefelhagen 2008) with the trivial matching
that generated detections allow: each detection knows the person it came from.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ros_phmr.bench import write_report
from ros_phmr.tracking import Tracker, TrackerConfig

_HEIGHT, _WIDTH = 1.7, 0.5  # person box in metres
_PELVIS_DROP = 0.9          # pelvis height above the ground


@dataclass(frozen=True)
class WalkerScene:
    """Generator settings (metres, seconds, pixels). People walk in depth lanes spread evenly
    over ``depth_range`` (at least 1 m apart with the defaults), swaying by ``depth_sway``."""

    sequences: int = 20
    frames: int = 300
    people: int = 5
    fps: float = 30.0
    image_size: tuple = (1280, 720)
    focal: float = 900.0
    camera_height: float = 1.2
    depth_range: tuple = (2.5, 9.0)
    speed_range: tuple = (0.8, 1.6)
    depth_sway: float = 0.25
    occlusion_cover: float = 0.5
    max_occlusion: int = 10
    miss_rate: float = 0.05
    false_rate: float = 0.05
    box_noise_px: float = 4.0
    root_noise_m: float = 0.04
    depth_noise_per_m: float = 0.02


def _project_box(root: np.ndarray, K: np.ndarray) -> np.ndarray:
    """xyxy box of an upright person-sized rectangle whose pelvis is at ``root`` (camera frame)."""
    x, y, z = root
    top, bottom = y - (_HEIGHT - _PELVIS_DROP), y + _PELVIS_DROP
    u = K[0, 0] * np.array([x - _WIDTH / 2, x + _WIDTH / 2]) / z + K[0, 2]
    v = K[1, 1] * np.array([top, bottom]) / z + K[1, 2]
    return np.array([u[0], v[0], u[1], v[1]])


def _coverage(box: np.ndarray, other: np.ndarray) -> float:
    """Fraction of ``box``'s area inside ``other``."""
    w = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
    h = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
    return w * h / max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)


def generate_sequence(scene: WalkerScene, rng: np.random.Generator):
    """Ground-truth roots (F, P, 3) and per frame a list of detections (box, root, person or -1)."""
    W, H = scene.image_size
    K = np.array([[scene.focal, 0, W / 2], [0, scene.focal, H / 2], [0, 0, 1.0]])
    dt = 1.0 / scene.fps
    ground_y = scene.camera_height - _PELVIS_DROP  # pelvis y in the camera frame (y down)
    # Walkers cross the view left<->right at random depths, some walk diagonally in depth.
    span = scene.frames * dt
    start = rng.uniform(-1.0, 1.0, scene.people)
    direction = np.where(rng.random(scene.people) < 0.5, -1.0, 1.0)
    speed = rng.uniform(*scene.speed_range, scene.people)
    # Each walker keeps to a depth lane (people do not walk through each other), drifting a
    # little towards and away from the camera; lanes are at least ``lane_gap`` apart.
    near, far = scene.depth_range
    lanes = near + (far - near) * (np.arange(scene.people) + 0.5) / scene.people
    depth0 = rng.permutation(lanes) + rng.uniform(-0.1, 0.1, scene.people)
    sway = rng.uniform(-1.0, 1.0, scene.people) * scene.depth_sway
    t = np.arange(scene.frames)[:, None] * dt
    z = depth0 + sway * np.sin(2 * np.pi * t / span + rng.uniform(0, 2 * np.pi, scene.people))
    # Lateral walking, bouncing off the edges of the view so people stay in it and cross
    # each other repeatedly; positions are in units of the half-width seen at their depth.
    half_width = 0.85 * z * W / (2 * scene.focal) - _WIDTH                   # (F, P) metres
    travelled = np.cumsum(direction * speed * dt / half_width, axis=0) + start
    x = half_width * (1.0 - np.abs(np.mod(travelled + 1.0, 4.0) - 2.0))
    roots = np.stack([x, np.full_like(x, ground_y), z], axis=-1)          # (F, P, 3)

    frames, occluded_run = [], np.zeros(scene.people, int)
    for f in range(scene.frames):
        boxes = [_project_box(r, K) for r in roots[f]]
        dets = []
        for p in range(scene.people):
            b = boxes[p]
            visible = b[2] > 0 and b[0] < W and b[3] > 0 and b[1] < H
            covered = any(_coverage(b, boxes[q]) >= scene.occlusion_cover
                          for q in range(scene.people) if q != p and roots[f, q, 2] < roots[f, p, 2])
            occluded_run[p] = occluded_run[p] + 1 if covered else 0
            if covered and occluded_run[p] <= scene.max_occlusion:
                continue
            if not visible or rng.random() < scene.miss_rate:
                continue
            scale = b[3] - b[1]
            box = b + rng.normal(0, scene.box_noise_px * scale / 300.0, 4)
            sigma = np.array([scene.root_noise_m, scene.root_noise_m,
                              scene.root_noise_m + scene.depth_noise_per_m * roots[f, p, 2]])
            dets.append((box, roots[f, p] + rng.normal(0, sigma), p))
        if rng.random() < scene.false_rate:
            fake = np.array([rng.uniform(-3, 3), ground_y, rng.uniform(*scene.depth_range)])
            dets.append((_project_box(fake, K) + rng.normal(0, 5, 4), fake, -1))
        frames.append(dets)
    visible = np.array([[(_project_box(r, K)[2] > 0) and (_project_box(r, K)[0] < W) for r in fr]
                        for fr in roots])                                   # (F, P)
    return roots, frames, visible


def evaluate_sequence(tracker: Tracker, frames, visible: np.ndarray, fps: float) -> dict:
    """Run the tracker over one sequence and count CLEAR-MOT events."""
    tracker.reset()
    people = visible.shape[1]
    last_id = np.full(people, -1)
    ever_tracked = np.zeros(people, bool)
    interrupted = np.zeros(people, bool)
    ids_of = [set() for _ in range(people)]
    counts = dict(gt=0, fn=0, fp=0, idsw=0, fragmentations=0, matches=0)
    seconds = 0.0
    for f, dets in enumerate(frames):
        boxes = np.array([d[0] for d in dets]).reshape(-1, 4)
        roots = np.array([d[1] for d in dets]).reshape(-1, 3)
        clock = time.perf_counter()
        ids = tracker.update(boxes, roots, stamp_s=f / fps)
        seconds += time.perf_counter() - clock
        tracked = np.zeros(people, bool)
        for (_, _, person), tid in zip(dets, ids):
            if tid < 0:
                continue
            if person < 0:
                counts["fp"] += 1
                continue
            tracked[person] = True
            counts["matches"] += 1
            ids_of[person].add(int(tid))
            if last_id[person] >= 0 and last_id[person] != tid:
                counts["idsw"] += 1
            last_id[person] = tid
        counts["gt"] += int(visible[f].sum())
        counts["fn"] += int((visible[f] & ~tracked).sum())
        # A fragmentation: tracked, then visible but untracked, then tracked again.
        counts["fragmentations"] += int((tracked & interrupted).sum())
        interrupted = (interrupted | (visible[f] & ~tracked & ever_tracked)) & ~tracked
        ever_tracked |= tracked
    counts["people"] = people
    counts["people_with_several_ids"] = sum(1 for s in ids_of if len(s) > 1)
    counts["tracker_seconds"] = seconds
    return counts


def run_tracking_bench(scene: WalkerScene = WalkerScene(), config: TrackerConfig | None = None,
                       seed: int = 0) -> dict:
    """Benchmark numbers (JSON-able) for the tracker on generated walkers."""
    config = config or TrackerConfig(frame_period_s=1.0 / scene.fps)
    rng = np.random.default_rng(seed)
    tracker = Tracker(config)
    total: dict = {}
    occlusions = []
    for _ in range(scene.sequences):
        roots, frames, visible = generate_sequence(scene, rng)
        occlusions.append(_occlusion_lengths(frames, visible))
        counts = evaluate_sequence(tracker, frames, visible, scene.fps)
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    gt = max(total["gt"], 1)
    lengths = np.concatenate(occlusions) if occlusions else np.zeros(0)
    frames = scene.sequences * scene.frames
    return {
        "scene": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(scene).items()},
        "tracker": asdict(config),
        "seed": seed,
        "person_frames": int(total["gt"]),
        "id_switches": int(total["idsw"]),
        "id_switches_per_1000_person_frames": 1000.0 * total["idsw"] / gt,
        "fragmentations": int(total["fragmentations"]),
        "fragmented_track_rate": total["people_with_several_ids"] / max(total["people"], 1),
        "false_negatives": int(total["fn"]),
        "false_positives": int(total["fp"]),
        "mota": 1.0 - (total["fn"] + total["fp"] + total["idsw"]) / gt,
        "recall": total["matches"] / gt,
        "missed_runs": {"count": int(len(lengths)),
                        "max_frames": int(lengths.max()) if len(lengths) else 0,
                        "mean_frames": float(lengths.mean()) if len(lengths) else 0.0},
        "tracker_ms_per_frame": 1000.0 * total["tracker_seconds"] / frames,
    }


def _occlusion_lengths(frames, visible: np.ndarray) -> np.ndarray:
    """Lengths of the runs of frames in which a visible person got no detection."""
    people = visible.shape[1]
    seen = np.zeros((len(frames), people), bool)
    for f, dets in enumerate(frames):
        for _, _, p in dets:
            if p >= 0:
                seen[f, p] = True
    runs = []
    for p in range(people):
        run = 0
        for f in range(len(frames)):
            if visible[f, p] and not seen[f, p]:
                run += 1
            elif run:
                runs.append(run)
                run = 0
    return np.array(runs, int)


def bench_command(args) -> int:
    """``ros-phmr bench --suite tracking``: generated walkers (``--sequences``,
    ``--sequence-frames``), the numbers printed and written to ``--json``."""
    scene = WalkerScene(sequences=args.sequences, frames=args.sequence_frames)
    report = run_tracking_bench(scene, TrackerConfig(frame_period_s=1.0 / scene.fps))
    print(f"tracking: {report['person_frames']} person-frames, {report['id_switches']} id switches "
          f"({report['id_switches_per_1000_person_frames']:.2f} per 1000), MOTA {report['mota']:.3f}, "
          f"fragmented tracks {report['fragmented_track_rate']:.3f}, "
          f"{report['tracker_ms_per_frame']:.3f} ms per frame", flush=True)
    write_report(args.json, report)
    return 0


def main(argv=None) -> int:
    """``python -m ros_phmr.bench.tracking_bench [--out FILE]``: the default benchmark as JSON."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: print it)")
    parser.add_argument("--sequences", type=int, default=WalkerScene.sequences)
    parser.add_argument("--max-age", type=int, default=TrackerConfig.max_age)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    scene = WalkerScene(sequences=args.sequences)
    report = run_tracking_bench(scene, TrackerConfig(max_age=args.max_age,
                                                     frame_period_s=1.0 / scene.fps), args.seed)
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
