"""Small real inputs for the offline/demo tests: synthetic frames, rosbag2 bags written with
rosbags' Writer, an MJPG video written with OpenCV, an image folder; and an MCAP reader check."""
from __future__ import annotations

import functools
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from ros_phmr.assets import write_assets
from ros_phmr.demo import load_demo_body
from ros_phmr.io.ros2_messages import camera_info_message, image_message
from ros_phmr.ros.typestore import MSG_PACKAGE, make_typestore, msg_definitions, ros_phmr_msg_dir
from ros_phmr.io.foxglove_msgs import register_foxglove_scene_msgs
from ros_phmr.pipeline import PipelineConfig
from ros_phmr.synthetic import SceneConfig, SyntheticScene

WIDTH, HEIGHT = 64, 48


@functools.lru_cache(maxsize=1)
def _tiny_assets() -> dict:
    """Tiny random-weight checkpoints (what `ros-phmr assets --size tiny` writes), once a session."""
    return write_assets(Path(tempfile.mkdtemp(prefix="ros_phmr_tiny_")), size="tiny", seed=0)


def tiny_config():
    """Tiny random-weight checkpoints at a 112 px decoder input and 2 people: fast on CI, and they
    always "find" someone, which these plumbing tests need (the shipped demo checkpoint has tests
    of its own)."""
    assets = _tiny_assets()
    return PipelineConfig(profile="prompthmr+multihmr", prompthmr_checkpoint=str(assets["PromptHMR checkpoint"]),
                          multihmr_checkpoint=str(assets["Multi-HMR checkpoint"]),
                          smplx_model=str(assets["synthetic SMPL-X model"]), resolution=112, max_people=2,
                          device="cpu")


@functools.lru_cache(maxsize=1)
def shared_estimator():
    """One loaded tiny Estimator for the whole test session (loading costs seconds; every run
    resets its tracker, so tests do not see each other's tracks)."""
    from ros_phmr.offline.estimator import Estimator

    return Estimator(tiny_config())


def synthetic_frames(count: int, seed: int = 0):
    body, _, _ = load_demo_body(None)
    scene = SyntheticScene(body, SceneConfig(width=WIDTH, height=HEIGHT, num_people=2), seed=seed)
    return list(scene.frames(count))


def write_bag(path: Path, frames, storage: str = "mcap", compressed: bool = False, with_info: bool = True,
              extra_image_topic: bool = False) -> Path:
    """rosbag2 (version 9) with /cam/image_raw (or /cam/image_raw/compressed) and /cam/camera_info."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        topic, msgtype = (("/cam/image_raw/compressed", "sensor_msgs/msg/CompressedImage") if compressed
                          else ("/cam/image_raw", "sensor_msgs/msg/Image"))
        image_conn = writer.add_connection(topic, msgtype, typestore=ts)
        info_conn = writer.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=ts) if with_info else None
        other = writer.add_connection("/other/image", "sensor_msgs/msg/Image", typestore=ts) if extra_image_topic else None
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=ts)
        for frame in frames:
            t = frame.stamp_ns
            if info_conn is not None:
                info = camera_info_message(ts, frame.K, WIDTH, HEIGHT, t, "cam_optical")
                writer.write(info_conn, t, ts.serialize_cdr(info, "sensor_msgs/msg/CameraInfo"))
            if compressed:
                ok, png = cv2.imencode(".png", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
                msg = ts.types["sensor_msgs/msg/CompressedImage"](
                    header=image_message(ts, frame.image, t, "cam_optical").header, format="png",
                    data=np.frombuffer(png.tobytes(), np.uint8))
            else:
                msg = image_message(ts, frame.image, t, "cam_optical")
            writer.write(image_conn, t + 1, ts.serialize_cdr(msg, msgtype))
            if other is not None:
                writer.write(other, t + 2, ts.serialize_cdr(image_message(ts, frame.image, t, "x"), "sensor_msgs/msg/Image"))
            writer.write(chatter, t + 3, ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="hi"), "std_msgs/msg/String"))
    return path


def write_video(path: Path, frames, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_image_folder(path: Path, frames) -> Path:
    path.mkdir()
    for frame in frames:
        cv2.imwrite(str(path / f"frame_{frame.index:04d}.png"), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    return path


def reader_typestore():
    """An independent typestore for reading outputs back: Humble + ros_phmr_msgs + foxglove scene."""
    store = make_typestore(msg_definitions(ros_phmr_msg_dir(), MSG_PACKAGE))
    register_foxglove_scene_msgs(store)
    return store


def read_back(path: Path) -> dict:
    """Decode every message of an MCAP twice: mcap-ros2-support and rosbags' AnyReader.

    Returns {"counts": topic -> n, "schemas": topic -> (schema name, encoding), "mcap": topic ->
    decoded messages, "rosbags": topic -> deserialized messages}.
    """
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
    schemas = {ch.topic: (summary.schemas[ch.schema_id].name, summary.schemas[ch.schema_id].encoding,
                          ch.message_encoding) for ch in summary.channels.values()}
    by_mcap: dict = {}
    with open(path, "rb") as f:
        for _schema, channel, _message, decoded in make_reader(
                f, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            by_mcap.setdefault(channel.topic, []).append(decoded)
    by_rosbags: dict = {}
    with AnyReader([Path(path)], default_typestore=reader_typestore()) as reader:
        for conn, _t, raw in reader.messages():
            by_rosbags.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    counts = Counter({t: len(v) for t, v in by_mcap.items()})
    assert counts == Counter({t: len(v) for t, v in by_rosbags.items()})
    return {"counts": dict(counts), "schemas": schemas, "mcap": by_mcap, "rosbags": by_rosbags}
