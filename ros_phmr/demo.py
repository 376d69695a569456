"""``ros-phmr demo``: a self-contained recording that shows the pipeline's inputs and outputs.

Without a licensed SMPL-X file the demo generates the project's synthetic SMPL-X-format body model
(same keys and shapes, not the real body) and says so loudly: in the printed output, in the MCAP
metadata and on the preview picture.

The MCAP holds, per frame: the rendered camera image (sensor_msgs/Image rgb8), its CameraInfo, the
camera pose in a ``world`` frame (tf2_msgs/TFMessage on /tf_static), the ground-truth bodies as a
foxglove_msgs/SceneUpdate, and what the real pipeline estimated from the image: ros_phmr_msgs
(HumanMeshArray, InteractionArray, latched MeshTopology) and its own SceneUpdate in lighter,
opaque colours. All ROS 2 CDR, so the file opens in Foxglove and plays with ``ros2 bag play``.
Without checkpoints the estimates come from RANDOM-WEIGHT stand-ins (see default_model_config),
and the output says so.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import cv2
import numpy as np

from .io.foxglove_scene import SCENE_UPDATE_TYPE, body_color, scene_update_cdr
from .io.mcap_writer import McapWriter, qos_profile_metadata
from .io.ros2_messages import camera_info_message, image_message, transform_message
from .render import overlay_meshes
from .pipeline import PipelineConfig
from .offline.estimator import Estimator, open_estimator
from .offline.recording import ResultRecorder
from .people import NUM_HAND_JOINTS, PersonEstimate
from .synthetic import SceneConfig, SyntheticScene
from .synthetic.scene import SceneFrame

IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
TF_STATIC_TOPIC = "/tf_static"
GROUND_TRUTH_SCENE_TOPIC = "/phmr/ground_truth/scene"
WORLD_FRAME = "world"
CAMERA_FRAME = "camera_optical_frame"
SYNTHETIC_LABEL = "SYNTHETIC body model (not SMPL-X)"
ESTIMATE_SCENE_TOPIC = "/phmr/scene"
# Body-model generator seed: one cached synthetic model serves every demo seed.
SYNTHETIC_MODEL_SEED = 0


@dataclass(frozen=True)
class DemoSummary:
    """What ``run_demo`` wrote."""

    path: Path
    frames: int
    topics: Dict[str, int]          # topic -> messages written
    duration_s: float               # scene time from the first to the last frame
    body_model: str                 # SYNTHETIC_LABEL or the SMPL-X path used
    synthetic: bool
    size_bytes: int
    wall_time_s: float
    interrupted: bool = False
    metadata: Dict[str, str] = field(default_factory=dict)
    estimates_model: str = ""       # "" = no estimates recorded

    def describe(self) -> str:
        lines = [f"wrote {self.path} ({self.size_bytes / 1e6:.1f} MB, {self.frames} frames, "
                 f"{self.duration_s:.2f} s of scene time, {self.wall_time_s:.1f} s to make)"
                 + (" -- INTERRUPTED, file finalised with what was written" if self.interrupted else ""),
                 f"body model: {self.body_model}",
                 f"estimates: {self.estimates_model or 'none (ground truth only)'}"]
        lines += [f"  {topic}: {count} messages" for topic, count in self.topics.items()]
        return "\n".join(lines)


def synthetic_model_cache_dir() -> Path:
    """Where the generated synthetic body model is kept ($XDG_CACHE_HOME or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ros_phmr" / "synthetic_smplx"


def synthetic_model_path() -> Path:
    """Path of the cached synthetic SMPL-X-format model, generated on first use.

    Generated into a temporary sibling folder and renamed, so an interrupted or concurrent first
    run never leaves a half-written model behind.
    """
    from .body import write_synthetic_smplx

    target = synthetic_model_cache_dir()
    model = target / "smplx" / "SMPLX_NEUTRAL.npz"
    if not model.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f"{target.name}.tmp{os.getpid()}"
        write_synthetic_smplx(staging, seed=SYNTHETIC_MODEL_SEED)
        try:
            os.replace(staging, target)
        except OSError:
            if not model.is_file():            # nobody else finished it either
                raise
    return model


RANDOM_WEIGHTS_LABEL = "RANDOM WEIGHTS (tiny untrained stand-in checkpoints: the meshes are noise, not people)"
# Input size of the tiny stand-in PromptHMR: small, because its weights carry no information.
DEFAULT_MODEL_RESOLUTION = 224
DEFAULT_MODEL_MAX_PEOPLE = 4


def random_assets_dir() -> Path:
    """Where the tiny random-weight checkpoints are kept, beside the synthetic body model."""
    return synthetic_model_cache_dir().parent / "random_tiny"


def _cached_random_assets() -> Dict[str, Path]:
    """Tiny random-weight assets, written once (to a temporary sibling, then renamed)."""
    from .assets import write_assets

    target = random_assets_dir()
    expected = {"synthetic SMPL-X model": target / "smplx" / "SMPLX_NEUTRAL.npz",
                "PromptHMR checkpoint": target / "prompthmr" / "checkpoint.ckpt",
                "Multi-HMR checkpoint": target / "multihmr" / "multiHMR_tiny.pt"}
    if not all(p.is_file() for p in expected.values()):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f"{target.name}.tmp{os.getpid()}"
        written = write_assets(staging, size="tiny", seed=SYNTHETIC_MODEL_SEED)
        if set(written) != set(expected):
            raise RuntimeError(f"write_assets returned {sorted(written)}, expected {sorted(expected)}")
        try:
            os.replace(staging, target)
        except OSError:
            if not all(p.is_file() for p in expected.values()):
                raise
    return expected


def default_model_config(device: str = "auto", log=print) -> PipelineConfig:
    """The model ``demo``, ``live`` and ``process`` use when no checkpoint is given.

    The one place that decides it: today tiny random-weight checkpoints (generated once into
    the cache and announced through ``log`` as RANDOM WEIGHTS); a trained demo checkpoint
    replaces them here once one ships.
    """
    assets = _cached_random_assets()
    if log is not None:
        log(f"model: {RANDOM_WEIGHTS_LABEL}; pass --prompthmr/--multihmr for real checkpoints "
            f"(stand-ins in {random_assets_dir()})")
    return PipelineConfig(profile="prompthmr+multihmr",
                          prompthmr_checkpoint=str(assets["PromptHMR checkpoint"]),
                          multihmr_checkpoint=str(assets["Multi-HMR checkpoint"]),
                          smplx_model=str(assets["synthetic SMPL-X model"]),
                          resolution=DEFAULT_MODEL_RESOLUTION, max_people=DEFAULT_MODEL_MAX_PEOPLE,
                          device=device)


def model_config_from_options(prompthmr=None, multihmr=None, smplx=None, *, device: str = "auto",
                              resolution: int = 0, threshold: float = 0.3, max_people: int = 10,
                              log=print) -> PipelineConfig:
    """PipelineConfig from command-line style options; no checkpoint -> :func:`default_model_config`.

    Without prompts from other nodes the detector must run, so PromptHMR alone is refused.
    """
    if not prompthmr and not multihmr:
        if smplx:
            raise ValueError("--smplx needs --prompthmr/--multihmr checkpoints (the default "
                             "random-weight model brings its own synthetic body)")
        return default_model_config(device=device, log=log)
    if prompthmr and not multihmr:
        raise ValueError("PromptHMR alone needs box prompts, which live/process do not have: "
                         "add --multihmr (the detector)")
    for path in (prompthmr, multihmr, smplx):
        if path and not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist")
    return PipelineConfig(profile="prompthmr+multihmr" if prompthmr else "multihmr",
                          prompthmr_checkpoint=str(prompthmr or ""), multihmr_checkpoint=str(multihmr),
                          smplx_model=str(smplx or ""), resolution=int(resolution), device=device,
                          detection_threshold=float(threshold), max_people=int(max_people))


def describe_model(config: PipelineConfig) -> str:
    """What a config runs, for logs and recordings: RANDOM_WEIGHTS_LABEL for the stand-ins."""
    paths = [p for p in (config.prompthmr_checkpoint, config.multihmr_checkpoint) if p]
    if paths and all(Path(p).resolve().is_relative_to(random_assets_dir().resolve()) for p in paths):
        return RANDOM_WEIGHTS_LABEL
    return f"{config.profile}: " + ", ".join(paths)


def load_demo_body(smplx_path: Optional[Union[str, Path]]) -> Tuple[object, str, bool]:
    """(BodyModel, description, synthetic?) for a given SMPL-X path, or the synthetic model if None."""
    from .body import BodyModel

    if smplx_path is None:
        return BodyModel.from_file(synthetic_model_path(), num_betas=10, num_expression=10), SYNTHETIC_LABEL, True
    body = BodyModel.from_file(smplx_path, num_betas=10, num_expression=10)  # clear errors
    return body, str(smplx_path), False


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="frame", desc="demo", file=sys.stderr)


def run_demo(frames: int = 60, out: Union[str, Path] = "demo.mcap",
             smplx_path: Optional[Union[str, Path]] = None, seed: int = 0, progress: bool = True,
             *, config: Optional[SceneConfig] = None, model: Union[PipelineConfig, Estimator, None] = None,
             estimates: bool = True) -> DemoSummary:
    """Render ``frames`` frames of the synthetic scene (seeded by ``seed``) and record them to ``out``.

    ``smplx_path``: an SMPL-X model file or folder; None generates (once, cached) the synthetic
    SMPL-X-format model. ``progress`` shows a progress bar and prints what was written.
    ``config`` changes the scene (image size, people, fps); default 640x480, 3 people, 30 fps.
    ``model``: the pipeline that estimates the bodies from the images (None: default_model_config),
    a PipelineConfig or a loaded Estimator to reuse;
    ``estimates`` False records ground truth only.
    On an exception or Ctrl-C the MCAP is still finalised with the frames written so far.
    """
    frames = int(frames)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    out = Path(out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")
    started = time.perf_counter()
    body, body_label, synthetic = load_demo_body(smplx_path)
    if progress and synthetic:
        print(f"ros-phmr demo: using a {SYNTHETIC_LABEL}; pass an SMPL-X path for the real body model.")
    config = config or SceneConfig()
    scene = SyntheticScene(body, config, seed=seed)
    metadata = {"generator": "ros-phmr demo", "body_model": body_label,
                "synthetic_body_model": str(synthetic).lower(), "seed": str(int(seed)),
                "frames": str(frames), "camera_frame": CAMERA_FRAME, "world_frame": WORLD_FRAME,
                "ground_truth_topic": GROUND_TRUTH_SCENE_TOPIC}
    estimator, owned = None, False
    if estimates:
        estimator, owned = open_estimator(model or default_model_config(log=print if progress else None))
        metadata.update(estimates_model=describe_model(estimator.pipeline.config),
                        estimate_scene_topic=ESTIMATE_SCENE_TOPIC)
    interrupted = False
    first_stamp = last_stamp = scene.stamp_ns(0)
    lifetime_ns = int(3e9 / config.fps)           # bodies vanish ~3 frame periods after their last update
    with McapWriter(out) as writer:
        ts = writer.typestore
        writer.add_metadata("ros_phmr_demo", metadata)
        writer.add_ros2_channel(IMAGE_TOPIC, "sensor_msgs/msg/Image")
        writer.add_ros2_channel(CAMERA_INFO_TOPIC, "sensor_msgs/msg/CameraInfo")
        writer.add_ros2_channel(TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage",
                                metadata=qos_profile_metadata("transient_local", depth=1))
        writer.add_ros2_channel(GROUND_TRUTH_SCENE_TOPIC, SCENE_UPDATE_TYPE)
        recorder = (ResultRecorder.for_pipeline(writer, estimator.pipeline, scene_topic=ESTIMATE_SCENE_TOPIC)
                    if estimator is not None else None)
        rig = config.rig
        bar = _progress_bar(frames, progress)
        try:
            for frame in scene.frames(frames):
                stamp = frame.stamp_ns
                # Transform first, so a viewer knows the camera frame when the image arrives.
                writer.write_ros2(TF_STATIC_TOPIC, transform_message(
                    ts, WORLD_FRAME, CAMERA_FRAME, rig.world_from_camera, rig.center, stamp), stamp)
                writer.write_ros2(IMAGE_TOPIC, image_message(ts, frame.image, stamp, CAMERA_FRAME), stamp)
                writer.write_ros2(CAMERA_INFO_TOPIC, camera_info_message(
                    ts, frame.K, config.width, config.height, stamp, CAMERA_FRAME), stamp)
                writer.write(GROUND_TRUTH_SCENE_TOPIC, scene_update_cdr(
                    frame.body_ids, frame.vertices, scene.faces, stamp, CAMERA_FRAME,
                    kind="ground_truth", lifetime_ns=lifetime_ns), stamp)
                if estimator is not None:
                    estimate = estimator.estimate(frame.image, frame.K, stamp)
                    recorder.write(stamp, CAMERA_FRAME, estimate.people, frame.K, config.width, config.height,
                                   interactions=estimate.interactions, lifetime_ns=lifetime_ns)
                last_stamp = stamp
                bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
            if owned:
                estimator.close()
        counts = writer.counts
    summary = DemoSummary(
        path=out.resolve(), frames=counts[IMAGE_TOPIC], topics=counts,
        duration_s=(last_stamp - first_stamp) / 1e9, body_model=body_label, synthetic=synthetic,
        size_bytes=out.stat().st_size, wall_time_s=time.perf_counter() - started,
        interrupted=interrupted, metadata=metadata, estimates_model=metadata.get("estimates_model", ""))
    if progress:
        print(summary.describe())
    if interrupted:
        raise KeyboardInterrupt(f"demo interrupted; {out} holds {summary.frames} frames")
    return summary


def ground_truth_people(frame: SceneFrame) -> List[PersonEstimate]:
    """The synthetic frame's exact bodies as PersonEstimates (track id = body id, score 1, flat
    hands, neutral face), so ground truth goes through the same writers as estimates."""
    zeros_hand = np.zeros((NUM_HAND_JOINTS, 3), np.float32)
    return [PersonEstimate(
        track_id=int(frame.body_ids[i]), score=1.0, box_xyxy=frame.boxes[i],
        global_orient=frame.global_orient_aa[i], body_pose=frame.body_pose_aa[i],
        left_hand_pose=zeros_hand, right_hand_pose=zeros_hand, jaw_pose=np.zeros(3, np.float32),
        betas=frame.betas[i], expression=np.zeros(10, np.float32), transl=frame.transl[i],
        joints_3d=frame.joints[i], joints_2d=frame.joints2d[i], vertices=frame.vertices[i])
        for i in range(len(frame.body_ids))]


def _draw_skeleton(image: np.ndarray, joints2d: np.ndarray, parents, color) -> None:
    """Draw the 22 body joints (pelvis .. wrists) and their bones onto ``image`` in place."""
    pts = np.round(joints2d[:22]).astype(int)
    for j in range(1, 22):
        p = int(parents[j])
        cv2.line(image, tuple(pts[j]), tuple(pts[p]), color, 1, cv2.LINE_AA)
    for x, y in pts:
        cv2.circle(image, (int(x), int(y)), 2, color, -1, cv2.LINE_AA)


def render_preview_png(path: Union[str, Path], frame_index: int = 0,
                       smplx_path: Optional[Union[str, Path]] = None, seed: int = 0,
                       width: int = 640, height: int = 480, alpha: float = 0.6) -> Path:
    """Write a PNG of one demo frame: the camera image (left) and the same image with the ground-truth
    meshes overlaid, boxes and body skeletons (right). Returns the written path."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder {path.parent} does not exist")
    body, body_label, synthetic = load_demo_body(smplx_path)
    scene = SyntheticScene(body, SceneConfig(width=width, height=height), seed=seed)
    frame = scene.frame(frame_index)
    # Overlay in lifted (estimate-like) colours, so the overlay is visible on the rendered people.
    colors = np.array([body_color("estimate", i)[:3] for i in frame.body_ids])
    overlay = overlay_meshes(frame.image, [(v, scene.faces) for v in frame.vertices], frame.K,
                             alpha=alpha, colors=colors)
    for box, joints2d, color in zip(frame.boxes, frame.joints2d, colors):
        rgb = tuple(int(c) for c in np.round(color * 255))
        x1, y1, x2, y2 = np.round(box).astype(int)
        cv2.rectangle(overlay, (int(x1), int(y1)), (int(x2), int(y2)), rgb, 1, cv2.LINE_AA)
        _draw_skeleton(overlay, joints2d, body.parents, (255, 255, 255))
    picture = np.concatenate([frame.image, overlay], axis=1)
    label = "SYNTHETIC body model (not SMPL-X)" if synthetic else "SMPL-X"
    (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    cv2.rectangle(picture, (0, 0), (text_w + 12, text_h + 12), (0, 0, 0), -1)
    cv2.putText(picture, label, (6, text_h + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"could not write PNG to {path}")
    return path


def render_live_frame_png(path: Union[str, Path], frame_index: int = 75, seed: int = 0, width: int = 480,
                          height: int = 360, model: Union[PipelineConfig, Estimator, None] = None) -> Path:
    """Write a PNG of one synthetic frame as the live view draws it: ground truth (left) and the
    pipeline's estimate with mesh overlay, boxes, skeletons and ids (right), captioned with the
    model used (RANDOM WEIGHTS for the default stand-ins). This is docs/live_frame.png."""
    from .viz.snapshot import overlay_people, write_snapshot_png

    body, _, _ = load_demo_body(None)
    scene = SyntheticScene(body, SceneConfig(width=width, height=height), seed=seed)
    frame = scene.frame(frame_index)
    estimator, owned = open_estimator(model or default_model_config(log=None))
    try:
        people = estimator.estimate(frame.image, frame.K, frame.stamp_ns).people
        estimate = overlay_people(frame.image, frame.K, people, estimator.faces)
    finally:
        if owned:
            estimator.close()
    model = estimator.pipeline.config
    truth = overlay_people(frame.image, frame.K, ground_truth_people(frame), scene.faces, kind="ground_truth",
                           alpha=0.5)
    label = "RANDOM WEIGHTS (untrained)" if describe_model(model) == RANDOM_WEIGHTS_LABEL else model.profile
    return write_snapshot_png(path, [(f"ground truth ({SYNTHETIC_LABEL})", truth),
                                     (f"live estimate: {label}", estimate)])
