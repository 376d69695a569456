"""Frame sources for ``process`` and ``live``: rosbag2 (MCAP or sqlite3), video files, camera
devices, image folders and the synthetic scene, all yielding :class:`InputFrame`.

Sources are opened, and every input problem reported (ValueError / FileNotFoundError naming
the file and the problem), before any output file is created.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import cv2
import numpy as np

from ..geometry.camera import default_intrinsics
from ..imaging.encodings import decode_compressed_image, decode_raw_image
from ..ros.convert import camera_info_to_intrinsics
from ..ros.msg_fields import stamp_to_ns

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FRAME_ID = "camera_optical_frame"


@dataclass
class RawMessage:
    """A bag message copied unchanged into the output (CDR bytes and where they came from)."""

    topic: str
    msgtype: str
    data: bytes
    log_time_ns: int


@dataclass
class InputFrame:
    """One image to process: (H, W, 3) uint8 RGB, its stamp and frame, K if known (3, 3)."""

    index: int
    stamp_ns: int
    image: np.ndarray
    K: Optional[np.ndarray]
    frame_id: str = DEFAULT_FRAME_ID
    passthrough: Sequence[RawMessage] = ()      # bag messages to copy (the image, camera info)


def intrinsics_or_default(frame: InputFrame) -> np.ndarray:
    """The frame's K, or the papers' default focal (image diagonal) when the input has none."""
    if frame.K is not None:
        return frame.K
    height, width = frame.image.shape[:2]
    return default_intrinsics(width, height, "diagonal")


class FrameSource:
    """Base: ``len()`` = frames expected (0 if unknown), iteration yields InputFrames."""

    kind = "source"
    description = ""
    # Whether frames carry their own image message to copy (bags) or need one written.
    has_image_messages = False
    image_topic = "/camera/image_raw/compressed"
    camera_info_topic = "/camera/camera_info"

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[InputFrame]:
        raise NotImplementedError

    def close(self) -> None:
        pass


# ---- video files and devices -------------------------------------------------------------------

class VideoSource(FrameSource):
    """A video file (anything OpenCV's FFmpeg backend reads) or a camera device index."""

    kind = "video"

    def __init__(self, path_or_device, fps: Optional[float] = None, start_ns: int = 0) -> None:
        self.device = isinstance(path_or_device, int) or str(path_or_device).isdigit()
        if self.device:
            target = int(path_or_device)
            self.description = f"camera device {target}"
        else:
            target = Path(path_or_device)
            if not target.is_file():
                raise FileNotFoundError(f"video {target} does not exist")
            self.description = f"video {target}"
            target = str(target)
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            raise ValueError(f"{self.description} cannot be opened by OpenCV (not a video, or an "
                             "unsupported codec/device)")
        ok, first = self._capture.read()
        if not ok or first is None:
            self._capture.release()
            raise ValueError(f"{self.description} has no readable frame (corrupt or empty video)")
        self._first = first
        reported = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps else (reported if reported and reported > 0 else 30.0)
        self.start_ns = int(start_ns)
        count = 0 if self.device else int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._count = max(count, 0)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[InputFrame]:
        index, bgr = 0, self._first
        while bgr is not None:
            stamp = self.start_ns + int(round(index * 1e9 / self.fps))
            yield InputFrame(index, stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None)
            index += 1
            ok, bgr = self._capture.read()
            if not ok:
                bgr = None

    def close(self) -> None:
        self._capture.release()


# ---- image folders -----------------------------------------------------------------------------

class ImageFolderSource(FrameSource):
    """Every image file in a folder, in name order, stamped at ``fps``."""

    kind = "images"

    def __init__(self, folder, fps: float = 30.0, start_ns: int = 0) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} does not exist")
        self.files: List[Path] = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.description = f"{len(self.files)} images in {folder}"
        self.fps = float(fps)
        self.start_ns = int(start_ns)

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[InputFrame]:
        for index, path in enumerate(self.files):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"{path} is not an image OpenCV can read")
            stamp = self.start_ns + int(round(index * 1e9 / self.fps))
            yield InputFrame(index, stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None)


# ---- rosbag2 -----------------------------------------------------------------------------------

def _pick_camera_info(image_topic: str, infos: Sequence[str]) -> Optional[str]:
    """The CameraInfo topic beside ``image_topic`` (same namespace), else the only one, else None."""
    namespace = image_topic.rsplit("/", 1)[0]
    if image_topic.endswith("/compressed"):
        namespace = namespace.rsplit("/", 1)[0]
    beside = [t for t in infos if t == f"{namespace}/camera_info"]
    if beside:
        return beside[0]
    return infos[0] if len(infos) == 1 else None


class BagSource(FrameSource):
    """A rosbag2 (folder with metadata.yaml, or a single .mcap / .db3 file) read with rosbags.

    ``image_topic`` None: the only sensor_msgs/Image or CompressedImage topic. ``camera_info_topic``
    None: the CameraInfo topic in the image's namespace (or the only one); "" = ignore camera info.
    """

    kind = "bag"
    has_image_messages = True

    def __init__(self, path, image_topic: Optional[str] = None, camera_info_topic: Optional[str] = None) -> None:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"bag {path} does not exist")
        self.path = path
        self._reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        try:
            self._reader.open()
        except Exception as err:     # rosbags raises several error types for unreadable bags
            raise ValueError(f"cannot read bag {path}: {err}") from None
        try:
            self._choose_topics(image_topic, camera_info_topic)
        except Exception:
            self._reader.close()
            raise

    def _choose_topics(self, image_topic, camera_info_topic) -> None:
        reader = self._reader
        if not reader.is2:
            raise ValueError(f"{self.path} is a ROS 1 bag; convert it with `rosbags-convert` first")
        by_topic = {c.topic: c for c in reader.connections}
        summary = ", ".join(f"{t} ({c.msgtype})" for t, c in sorted(by_topic.items())) or "none"
        images = sorted(t for t, c in by_topic.items() if c.msgtype in IMAGE_TYPES)
        if image_topic is None:
            if not images:
                raise ValueError(f"bag {self.path} has no sensor_msgs/Image or CompressedImage topic; "
                                 f"its topics: {summary}")
            if len(images) > 1:
                raise ValueError(f"bag {self.path} has several image topics ({', '.join(images)}); "
                                 "choose one with --image-topic")
            image_topic = images[0]
        elif image_topic not in images:
            raise ValueError(f"--image-topic {image_topic} is not an image topic of {self.path}; "
                             f"image topics: {', '.join(images) or 'none'}")
        infos = sorted(t for t, c in by_topic.items() if c.msgtype == CAMERA_INFO_TYPE)
        if camera_info_topic is None:
            camera_info_topic = _pick_camera_info(image_topic, infos)
        elif camera_info_topic and camera_info_topic not in infos:
            raise ValueError(f"--camera-info-topic {camera_info_topic} is not a CameraInfo topic of "
                             f"{self.path}; CameraInfo topics: {', '.join(infos) or 'none'}")
        self.image_topic = image_topic
        self.camera_info_topic = camera_info_topic or None
        self._image_conn = by_topic[image_topic]
        self._info_conn = by_topic.get(self.camera_info_topic) if self.camera_info_topic else None
        self.description = (f"bag {self.path}: images {image_topic}, camera info "
                            f"{self.camera_info_topic or 'none (default intrinsics)'}")

    def __len__(self) -> int:
        return int(self._image_conn.msgcount)

    def _decode(self, msg) -> np.ndarray:
        if self._image_conn.msgtype == "sensor_msgs/msg/CompressedImage":
            return decode_compressed_image(bytes(msg.data), msg.format)
        return decode_raw_image(msg.data, msg.width, msg.height, msg.encoding, msg.step, msg.is_bigendian)

    def __iter__(self) -> Iterator[InputFrame]:
        connections = [c for c in (self._image_conn, self._info_conn) if c is not None]
        info_msg, info_raw, index = None, None, 0
        try:
            for conn, log_time, raw in self._reader.messages(connections=connections):
                msg = self._reader.deserialize(raw, conn.msgtype)
                if conn is self._info_conn:
                    info_msg, info_raw = msg, RawMessage(conn.topic, conn.msgtype, bytes(raw), log_time)
                    continue
                image = self._decode(msg)
                K = None
                if info_msg is not None:
                    K = camera_info_to_intrinsics(info_msg, image.shape[1], image.shape[0])
                passthrough = [RawMessage(conn.topic, conn.msgtype, bytes(raw), log_time)]
                if info_raw is not None:
                    passthrough.append(info_raw)
                    info_raw = None                      # copied once per update
                yield InputFrame(index, stamp_to_ns(msg.header.stamp), image, K,
                                 msg.header.frame_id or DEFAULT_FRAME_ID, passthrough)
                index += 1
        except ValueError:
            raise
        except Exception as err:     # truncated/corrupt chunks surface here, mid-file
            raise ValueError(f"bag {self.path} is corrupt after {index} images: {err}") from None

    def close(self) -> None:
        self._reader.close()


# ---- the synthetic scene ----------------------------------------------------------------------

class SyntheticSource(FrameSource):
    """Frames of :class:`ros_phmr.synthetic.SyntheticScene` (``frames`` None = endless)."""

    kind = "synthetic"

    def __init__(self, frames: Optional[int] = None, width: int = 640, height: int = 480, seed: int = 0) -> None:
        from ..demo import load_demo_body
        from ..synthetic import SceneConfig, SyntheticScene

        body, _, _ = load_demo_body(None)
        self.scene = SyntheticScene(body, SceneConfig(width=width, height=height), seed=seed)
        self.frames = frames
        self.description = f"synthetic scene {width}x{height}, seed {seed}"

    def __len__(self) -> int:
        return self.frames or 0

    def __iter__(self) -> Iterator[InputFrame]:
        index = 0
        while self.frames is None or index < self.frames:
            frame = self.scene.frame(index)
            yield InputFrame(index, frame.stamp_ns, frame.image, frame.K)
            index += 1


def open_source(spec: str, *, image_topic: Optional[str] = None, camera_info_topic: Optional[str] = None,
                fps: Optional[float] = None) -> FrameSource:
    """A source from a command-line INPUT: a bag (folder with metadata.yaml, .mcap, .db3), a
    folder of images, a video file, a device index ("0") or "synthetic"."""
    if spec == "synthetic":
        return SyntheticSource()
    if spec.isdigit():
        return VideoSource(int(spec), fps=fps)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"input {path} does not exist")
    if path.is_dir():
        if (path / "metadata.yaml").is_file():
            return BagSource(path, image_topic, camera_info_topic)
        return ImageFolderSource(path, fps=fps or 30.0)
    if path.suffix.lower() in (".mcap", ".db3"):
        return BagSource(path, image_topic, camera_info_topic)
    return VideoSource(path, fps=fps)
