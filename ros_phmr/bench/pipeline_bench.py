"""``ros-phmr bench``: the real Pipeline on synthetic camera frames, timed per stage and end to end.

Frames are 1920x1080 uint8 RGB arrays in host memory, as they arrive from a camera message
(several different noise images, cycled). The number of people is forced: every person is a box
prompt, and in profiles with a detector its threshold is set above any score, so the decoder
gets exactly ``people`` people while the detector still does all its (shape-static) work over
``max_people`` slots; the Multi-HMR-only profile instead takes its top ``people`` slots with
threshold 0. Random weights at the official sizes are enough: speed does not depend on them.

Two timing modes, because per-stage timing itself synchronises the GPU after each stage:

* ``stages``: ``sync_stages=True``; p50/p95/p99 per stage (upload, preprocess, detector,
  backbone, prompt fusion, decoder, body model, outputs, message build) and end to end;
* ``e2e``: no synchronisation between stages (how the node runs); end to end only.

``message_build`` is the ROS field-dict conversion of every person (``ros_phmr.ros.convert``),
vertices included. Warm-up frames (graph capture, autotuning) are excluded and reported.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import FramePrompts, PersonPrompt

MODES = ("stages", "e2e")
ABOVE_ANY_SCORE = 1.0  # detection scores are clamped to 1 - 1e-4
STAGE_ORDER = ("upload", "preprocess", "detector", "backbone", "prompt_fusion", "decoder",
               "body_model", "outputs", "message_build")


@dataclass
class BenchConfig:
    profile: str = "prompthmr+multihmr"
    prompthmr_checkpoint: str = ""
    multihmr_checkpoint: str = ""
    smplx_model: str = ""
    backend: str = "torch"
    precision: str = "bf16"
    resolution: int = 0
    people: tuple = (1, 5, 20)
    frames: int = 100
    warmup: int = 10
    modes: tuple = MODES
    width: int = 1920
    height: int = 1080
    device: str = "auto"
    cuda_graphs: bool = True
    compile: bool = False
    compute_vertices: bool = True
    seed: int = 0
    distinct_frames: int = 4
    extra: dict = field(default_factory=dict)  # free-form labels stored in the JSON

    def __post_init__(self):
        self.people = tuple(int(p) for p in self.people)
        self.modes = tuple(self.modes)
        if not self.people or min(self.people) < 1:
            raise ValueError(f"people counts must be >= 1, got {self.people}")
        if self.frames < 1 or self.warmup < 0:
            raise ValueError(f"frames must be >= 1 and warmup >= 0, got {self.frames}, {self.warmup}")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"modes must be among {MODES}, got {self.modes}")


def percentiles(seconds) -> dict:
    """p50/p95/p99/mean/min/max in milliseconds of a list of durations in seconds."""
    ms = np.asarray(seconds, np.float64) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()),
            "min": float(ms.min()), "max": float(ms.max())}


def person_boxes(count: int, width: int, height: int) -> np.ndarray:
    """``count`` person-shaped boxes (N, 4) xyxy spread over a grid covering the image."""
    cols = int(np.ceil(np.sqrt(count * width / height)))
    rows = int(np.ceil(count / cols))
    cell_w, cell_h = width / cols, height / rows
    index = np.arange(count)
    cx = (index % cols + 0.5) * cell_w
    cy = (index // cols + 0.5) * cell_h
    half_h = 0.45 * cell_h
    half_w = np.minimum(0.45 * cell_w, 0.4 * half_h)
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1).astype(np.float32)


def forced_prompts(count: int, width: int, height: int) -> FramePrompts:
    return FramePrompts(people=tuple(PersonPrompt(person_id=i, box=b)
                                     for i, b in enumerate(person_boxes(count, width, height))))


def synthetic_frames(count: int, width: int, height: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def _pipeline_config(cfg: BenchConfig, people: int, sync: bool) -> PipelineConfig:
    detector_alone = cfg.profile == "multihmr"
    return PipelineConfig(
        profile=cfg.profile, prompthmr_checkpoint=cfg.prompthmr_checkpoint,
        multihmr_checkpoint=cfg.multihmr_checkpoint, smplx_model=cfg.smplx_model,
        resolution=cfg.resolution, device=cfg.device, precision=cfg.precision,
        detection_threshold=0.0 if detector_alone else ABOVE_ANY_SCORE,
        max_people=people if detector_alone else max(cfg.people),
        compute_vertices=cfg.compute_vertices, backend=cfg.backend,
        cuda_graphs=cfg.cuda_graphs, compile=cfg.compile, sync_stages=sync)


def _message_build(people, K: np.ndarray, width: int, height: int) -> None:
    from ros_phmr.ros.convert import mesh_array_fields

    mesh_array_fields(0, "camera_optical_frame", people, True, image_width=width,
                      image_height=height, k=K)


def _run_frames(pipe: Pipeline, frames: list, K: np.ndarray, prompts: FramePrompts | None,
                count: int, width: int, height: int) -> tuple[list, list]:
    """Process ``count`` frames -> (per-frame timings dicts, people per frame)."""
    records, people = [], []
    for i in range(count):
        start = time.perf_counter()
        result = pipe.process(frames[i % len(frames)], K, prompts)
        built = time.perf_counter()
        _message_build(result.people, K, width, height)
        end = time.perf_counter()
        timings = dict(result.timings)
        timings["message_build"] = end - built
        timings["end_to_end"] = end - start
        records.append(timings)
        people.append(len(result.people))
    return records, people


def bench_one(cfg: BenchConfig, people: int, mode: str, frames: list, K: np.ndarray,
              pipe: Pipeline | None = None) -> dict:
    """One (people, mode) measurement; ``pipe`` may be reused when its config fits."""
    if pipe is None:
        pipe = Pipeline(_pipeline_config(cfg, people, mode == "stages"))
    prompts = None if cfg.profile == "multihmr" else forced_prompts(people, cfg.width, cfg.height)
    cuda = pipe.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(pipe.device)
        torch.cuda.reset_peak_memory_stats(pipe.device)
    warm, _ = _run_frames(pipe, frames, K, prompts, cfg.warmup, cfg.width, cfg.height)
    records, counts = _run_frames(pipe, frames, K, prompts, cfg.frames, cfg.width, cfg.height)
    stages = sorted({k for r in records for k in r} - {"end_to_end", "total"},
                    key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else len(STAGE_ORDER))
    e2e = [r["end_to_end"] for r in records]
    out = {
        "people": people, "mode": mode, "frames": cfg.frames,
        "people_decoded": {"min": int(min(counts)), "max": int(max(counts))},
        "warmup": {"frames": cfg.warmup, "end_to_end_ms": [1e3 * r["end_to_end"] for r in warm]},
        "end_to_end": percentiles(e2e),
        "frames_per_second": float(len(e2e) / np.sum(e2e)),
        "backend": pipe.backend,
    }
    if mode == "stages":
        out["stages"] = {s: percentiles([r.get(s, 0.0) for r in records]) for s in stages}
    if cuda:
        out["gpu_memory_peak_mb"] = torch.cuda.max_memory_allocated(pipe.device) / 2**20
        out["gpu_memory_reserved_mb"] = torch.cuda.max_memory_reserved(pipe.device) / 2**20
    return out


def machine_info(device: torch.device) -> dict:
    info = {"host": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def git_commit(path: Path | None = None) -> str:
    """HEAD of the source tree, "+dirty" when tracked files differ from it (a result must not be
    filed under a commit whose code did not run), or ROS_PHMR_BENCH_COMMIT (for a copied tree
    whose .git is stale)."""
    if os.environ.get("ROS_PHMR_BENCH_COMMIT"):
        return os.environ["ROS_PHMR_BENCH_COMMIT"]
    cwd = path or Path(__file__).parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        if not head:
            return "unknown"
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                 capture_output=True, text=True, timeout=30).stdout.strip()
        return head + ("+dirty" if changed else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_bench(cfg: BenchConfig, log=print, save=None) -> dict:
    """Every (people, mode) of ``cfg`` -> a JSON-ready dict (config, machine, runs).

    ``save(result)`` is called after every run with the results so far (a run cut short by a
    time limit still leaves its finished measurements)."""
    frames = synthetic_frames(cfg.distinct_frames, cfg.width, cfg.height, cfg.seed)
    K = default_intrinsics(cfg.width, cfg.height)
    runs = []
    result = {"kind": "ros_phmr pipeline bench", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "commit": git_commit(), "machine": {}, "config": asdict(cfg), "runs": runs}
    # One Pipeline (loaded and compiled once) serves every mode; with the detector alone its
    # slot count is the people count, so it is rebuilt per count.
    for people in (cfg.people if cfg.profile == "multihmr" else cfg.people[:1]):
        start = time.perf_counter()
        pipe = Pipeline(_pipeline_config(cfg, people, True))
        result["machine"] = machine_info(pipe.device)
        result.setdefault("load_seconds", []).append(time.perf_counter() - start)
        log(f"{cfg.profile}: pipeline loaded in {result['load_seconds'][-1]:.1f} s")
        for mode in cfg.modes:
            pipe.config = replace(pipe.config, sync_stages=mode == "stages")
            for count in ([people] if cfg.profile == "multihmr" else cfg.people):
                run = bench_one(cfg, count, mode, frames, K, pipe)
                runs.append(run)
                log(f"{cfg.profile} {mode:6s} people={count:2d}: e2e p50 {run['end_to_end']['p50']:.2f} ms "
                    f"p99 {run['end_to_end']['p99']:.2f} ms, {run['frames_per_second']:.1f} fps")
                result["per_added_person_ms"] = per_person_slopes(runs)
                if save is not None:
                    save(result)
        pipe.close()
    return result


def per_person_slopes(runs: list) -> dict:
    """mode -> end-to-end p50 growth per added person between the smallest and largest count."""
    slopes = {}
    for mode in {r["mode"] for r in runs}:
        by_count = {r["people"]: r["end_to_end"]["p50"] for r in runs if r["mode"] == mode}
        low, high = min(by_count), max(by_count)
        if high > low:
            slopes[mode] = (by_count[high] - by_count[low]) / (high - low)
    return slopes


def summary_table(result: dict) -> str:
    """Human-readable table of a run_bench result (ms)."""
    lines = []
    for run in result["runs"]:
        e2e = run["end_to_end"]
        lines.append(f"{result['config']['profile']:>20s} {run['mode']:6s} people {run['people']:2d}: "
                     f"p50 {e2e['p50']:7.2f}  p95 {e2e['p95']:7.2f}  p99 {e2e['p99']:7.2f} ms  "
                     f"{run['frames_per_second']:7.1f} fps")
        for stage, stats in run.get("stages", {}).items():
            lines.append(f"{'':>30s}{stage:>14s}: p50 {stats['p50']:7.3f}  p99 {stats['p99']:7.3f} ms")
    return "\n".join(lines)


def plot_stages(result: dict, path: Path) -> Path:
    """Stacked bars of per-stage p50 against the number of people (matplotlib PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in result["runs"] if r["mode"] == "stages"]
    if not runs:
        raise ValueError("the plot needs a 'stages' run (per-stage timings)")
    stages = [s for s in STAGE_ORDER if any(s in r["stages"] for r in runs)]
    labels = [str(r["people"]) for r in runs]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bottom = np.zeros(len(runs))
    for stage in stages:
        values = np.array([r["stages"].get(stage, {"p50": 0.0})["p50"] for r in runs])
        ax.bar(labels, values, bottom=bottom, label=stage)
        bottom += values
    e2e = [r["end_to_end"]["p50"] for r in runs]
    ax.plot(labels, e2e, "k_", markersize=30, label="end to end p50")
    cfg, machine = result["config"], result["machine"]
    ax.set_xlabel("people")
    ax.set_ylabel("ms (p50)")
    ax.set_title(f"{cfg['profile']} {cfg['precision']} on {machine.get('gpu', machine['device'])}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
