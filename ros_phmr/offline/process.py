"""``ros-phmr process INPUT -o OUTPUT.mcap``: run the pipeline over a bag, a video or an image
folder and record images, camera info, ros_phmr_msgs and the Foxglove scene, all ROS 2 CDR
(one serialisation format, so ``ros2 bag play`` accepts the file).

Bag images and camera info are copied byte for byte on their own topics; video and folder
frames are written as JPEG ``sensor_msgs/CompressedImage`` on /camera/image_raw/compressed with
a CameraInfo on /camera/camera_info. The output is finalised whatever happens: on Ctrl-C it is
a valid MCAP of the frames done so far (and says so), on a mid-file input error too, with a
warning that it is partial.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Union

import cv2
import numpy as np

from ..io.mcap_writer import McapWriter
from ..io.ros2_messages import camera_info_message, header
from ..pipeline import PipelineConfig
from ..runtime.interrupt import StopRequest
from .estimator import Estimator, open_estimator
from .recording import ResultRecorder
from .sources import FrameSource, InputFrame, intrinsics_or_default, open_source

JPEG_QUALITY = 90


@dataclass
class ProcessSummary:
    output: Path
    frames: int
    expected_frames: int
    topics: Dict[str, int] = field(default_factory=dict)
    wall_time_s: float = 0.0
    interrupted: bool = False

    def describe(self) -> str:
        rate = self.frames / self.wall_time_s if self.wall_time_s > 0 else 0.0
        lines = [f"wrote {self.output} ({self.frames} frames, {rate:.1f} frames/s)"]
        lines += [f"  {topic}: {count} messages" for topic, count in sorted(self.topics.items())]
        return "\n".join(lines)


def _compressed_image(typestore, frame: InputFrame):
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f"could not JPEG-encode frame {frame.index}")
    return typestore.types["sensor_msgs/msg/CompressedImage"](
        header=header(typestore, frame.stamp_ns, frame.frame_id), format="rgb8; jpeg compressed bgr8",
        data=np.frombuffer(jpeg.tobytes(), np.uint8))


class _InputWriter:
    """Writes the input side: copied bag messages, or encoded frames + generated CameraInfo."""

    def __init__(self, writer: McapWriter, source: FrameSource) -> None:
        self.writer, self.source = writer, source
        self._channels: set = set()
        if not source.has_image_messages:
            writer.add_ros2_channel(source.image_topic, "sensor_msgs/msg/CompressedImage")
        if not source.has_image_messages or source.camera_info_topic is None:
            self.info_topic = "/camera/camera_info" if source.has_image_messages else source.camera_info_topic
            writer.add_ros2_channel(self.info_topic, "sensor_msgs/msg/CameraInfo")
        else:
            self.info_topic = None

    def write(self, frame: InputFrame, K: np.ndarray) -> None:
        w, ts = self.writer, self.writer.typestore
        for raw in frame.passthrough:
            if raw.topic not in self._channels:
                w.add_ros2_channel(raw.topic, raw.msgtype)
                self._channels.add(raw.topic)
            w.write(raw.topic, raw.data, raw.log_time_ns)
        if not self.source.has_image_messages:
            w.write_ros2(self.source.image_topic, _compressed_image(ts, frame), frame.stamp_ns)
        if self.info_topic is not None:
            height, width = frame.image.shape[:2]
            w.write_ros2(self.info_topic, camera_info_message(ts, K, width, height, frame.stamp_ns, frame.frame_id),
                         frame.stamp_ns)


def run_process(input_spec: str, output, model: Union[PipelineConfig, Estimator], *, image_topic: Optional[str] = None,
                camera_info_topic: Optional[str] = None, fps: Optional[float] = None, max_frames: int = 0,
                include_vertices: bool = False, progress: bool = True, overwrite: bool = False) -> ProcessSummary:
    """Process every frame of ``input_spec`` into the MCAP ``output``; see the module docstring.

    ``model``: a PipelineConfig (loaded here, released at the end) or a loaded Estimator to reuse.

    Input problems are reported (FileNotFoundError / ValueError) before ``output`` is created.
    Raises KeyboardInterrupt after finalising the file when interrupted.
    """
    from tqdm import tqdm

    output = Path(output)
    if output.suffix.lower() != ".mcap":
        raise ValueError(f"output {output} must end in .mcap")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"output folder {output.parent} does not exist")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    if Path(input_spec).resolve() == output.resolve():
        raise ValueError("input and output are the same file")
    source = open_source(str(input_spec), image_topic=image_topic, camera_info_topic=camera_info_topic, fps=fps)
    started = time.perf_counter()
    done, interrupted = 0, False
    expected = len(source) if not max_frames else min(len(source) or max_frames, max_frames)
    estimator, owned = None, False
    try:
        estimator, owned = open_estimator(model)
        if progress:
            print(f"input: {source.description}", file=sys.stderr)
        with McapWriter(output) as writer:
            writer.add_metadata("ros_phmr_process", {"input": str(input_spec), "source": source.description,
                                                     "profile": estimator.pipeline.config.profile})
            inputs = _InputWriter(writer, source)
            recorder = ResultRecorder.for_pipeline(writer, estimator.pipeline, include_vertices=include_vertices)
            bar = tqdm(total=expected or None, unit="frame", desc="process", disable=not progress,
                       file=sys.stderr, dynamic_ncols=True)
            try:
                with StopRequest() as ctrl_c:
                    for frame in source:
                        if ctrl_c.requested:
                            interrupted = True
                            break
                        if max_frames and done >= max_frames:
                            break
                        K = intrinsics_or_default(frame)
                        estimate = estimator.estimate(frame.image, K, frame.stamp_ns)
                        inputs.write(frame, K)
                        height, width = frame.image.shape[:2]
                        recorder.write(frame.stamp_ns, frame.frame_id, estimate.people, K, width, height,
                                       interactions=estimate.interactions, default_intrinsics=frame.K is None)
                        done += 1
                        bar.update(1)
            except KeyboardInterrupt:
                interrupted = True
            except (ValueError, OSError) as err:
                print(f"warning: {output} is finalised but PARTIAL: it holds the {done} frames processed "
                      f"before the error", file=sys.stderr)
                raise ValueError(f"{err}") from None
            finally:
                bar.close()
            counts = writer.counts
    finally:
        if owned:
            estimator.close()
        source.close()
    summary = ProcessSummary(output.resolve(), done, expected, counts, time.perf_counter() - started, interrupted)
    if interrupted:
        print(f"interrupted: {output} is a valid MCAP of the {done} frames processed so far", file=sys.stderr)
        raise KeyboardInterrupt(str(output))
    if progress:
        print(summary.describe(), file=sys.stderr)
    return summary
