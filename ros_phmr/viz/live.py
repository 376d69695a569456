"""A Foxglove WebSocket server (foxglove-sdk) that shows the pipeline's output live.

Channels (Foxglove protobuf schemas): the camera image, its calibration, 2D annotations, frame
transforms and the 3D scene. Work follows attention: nothing is converted for a channel no
client subscribes to, and meshes, the expensive part, go out at most ``scene_rate_hz`` times a
second (skeletons and labels every frame). Each server has its own SDK context, so two servers
in one process never share channels.
"""
from __future__ import annotations

import errno
import threading
from typing import Iterable, Optional, Sequence

import foxglove
import numpy as np
from foxglove.channels import (CameraCalibrationChannel, FrameTransformsChannel,
                               ImageAnnotationsChannel, RawImageChannel, SceneUpdateChannel)
from foxglove.messages import SceneEntityDeletion, SceneEntityDeletionType, SceneUpdate

from ..people import PersonEstimate
from .image import camera_calibration, image_annotations, raw_image
from .messages import timestamp
from .scene import interaction_entities, mesh_entity, mesh_entity_id, skeleton_entity
from .transforms import frame_transforms

IMAGE_TOPIC = "/camera/image"
CALIBRATION_TOPIC = "/camera/calibration"
ANNOTATIONS_TOPIC = "/camera/annotations"
TF_TOPIC = "/tf"
SCENE_TOPIC = "/phmr/scene"


class _Subscriptions:
    """ServerListener: which topics have at least one subscribed client (thread-safe counts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict = {}

    def on_subscribe(self, client, channel) -> None:
        with self._lock:
            self._counts[channel.topic] = self._counts.get(channel.topic, 0) + 1

    def on_unsubscribe(self, client, channel) -> None:
        with self._lock:
            self._counts[channel.topic] = max(self._counts.get(channel.topic, 0) - 1, 0)

    def active(self, topic: str) -> bool:
        with self._lock:
            return self._counts.get(topic, 0) > 0


class FoxgloveLive:
    """Serve images, annotations, transforms and body meshes to Foxglove over WebSocket.

    ``host`` defaults to loopback: the server has no authentication, so exposing it (``0.0.0.0``)
    is an explicit choice. ``port`` 0 picks a free port (see :attr:`port`). Raises OSError
    (errno EADDRINUSE) naming the port when it is taken.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, scene_rate_hz: float = 10.0,
                 name: str = "ros_phmr") -> None:
        if not float(scene_rate_hz) > 0:
            raise ValueError(f"scene_rate_hz must be positive, got {scene_rate_hz}")
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {port}")
        self.scene_period_ns = int(1e9 / float(scene_rate_hz))
        self._context = foxglove.Context()
        self._subscriptions = _Subscriptions()
        try:
            self._server = foxglove.start_server(name=name, host=host, port=int(port),
                                                 server_listener=self._subscriptions, context=self._context)
        except RuntimeError as err:
            if "in use" in str(err).lower():
                raise OSError(errno.EADDRINUSE,
                              f"Foxglove server: port {port} on {host} is already in use (another "
                              "ros-phmr live or foxglove_bridge?); pick another with --port") from None
            raise RuntimeError(f"Foxglove server could not start on {host}:{port}: {err}") from None
        self.host = host
        ctx = self._context
        self._image = RawImageChannel(IMAGE_TOPIC, context=ctx)
        self._calibration = CameraCalibrationChannel(CALIBRATION_TOPIC, context=ctx)
        self._annotations = ImageAnnotationsChannel(ANNOTATIONS_TOPIC, context=ctx)
        self._tf = FrameTransformsChannel(TF_TOPIC, context=ctx)
        self._scene = SceneUpdateChannel(SCENE_TOPIC, context=ctx)
        self._last_mesh_ns: Optional[int] = None
        self._mesh_keys: set = set()
        self.meshes_published = 0
        self._closed = False

    @property
    def port(self) -> int:
        """The bound port (useful with port=0)."""
        return self._server.port

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def subscribed(self, topic: str) -> bool:
        """True while at least one client subscribes to ``topic``."""
        return self._subscriptions.active(topic)

    def _mesh_due(self, stamp_ns: int) -> bool:
        last = self._last_mesh_ns
        if last is None or stamp_ns < last or stamp_ns - last >= self.scene_period_ns:
            self._last_mesh_ns = stamp_ns
            return True
        return False

    def publish(self, stamp_ns: int, image: Optional[np.ndarray], K: np.ndarray,
                people: Sequence[PersonEstimate], faces: np.ndarray, interactions: Iterable = (),
                frame_id: str = "camera_optical_frame") -> None:
        """Send one frame's results to subscribed clients (no work for unsubscribed channels).

        ``image`` (H, W, 3) uint8 RGB or None; ``K`` (3, 3); ``faces`` (F, 3) shared topology.
        """
        if self._closed:
            raise ValueError("FoxgloveLive is closed")
        stamp_ns = int(stamp_ns)
        if image is not None and self.subscribed(IMAGE_TOPIC):
            self._image.log(raw_image(image, stamp_ns, frame_id), log_time=stamp_ns)
        if image is not None and self.subscribed(CALIBRATION_TOPIC):
            height, width = np.asarray(image).shape[:2]
            self._calibration.log(camera_calibration(K, width, height, stamp_ns, frame_id), log_time=stamp_ns)
        if self.subscribed(ANNOTATIONS_TOPIC):
            self._annotations.log(image_annotations(people, stamp_ns), log_time=stamp_ns)
        if self.subscribed(TF_TOPIC):
            self._tf.log(frame_transforms(people, stamp_ns, frame_id), log_time=stamp_ns)
        if self.subscribed(SCENE_TOPIC):
            self._publish_scene(stamp_ns, people, faces, interactions, frame_id)

    def _publish_scene(self, stamp_ns, people, faces, interactions, frame_id) -> None:
        lifetime = 3 * self.scene_period_ns           # a lost person's skeleton fades after ~3 mesh periods
        entities = [skeleton_entity(p, i, stamp_ns, frame_id, lifetime_ns=lifetime) for i, p in enumerate(people)]
        entities += interaction_entities(people, interactions, stamp_ns, frame_id, lifetime_ns=lifetime)
        deletions = []
        if self._mesh_due(stamp_ns):
            with_mesh = [(i, p) for i, p in enumerate(people) if p.vertices is not None]
            meshes = [mesh_entity(p, i, faces, stamp_ns, frame_id) for i, p in with_mesh]
            keys = {mesh_entity_id(p, i) for i, p in with_mesh}
            deletions = [SceneEntityDeletion(timestamp=timestamp(stamp_ns), type=SceneEntityDeletionType.MatchingId,
                                             id=gone) for gone in sorted(self._mesh_keys - keys)]
            self._mesh_keys = keys
            entities += meshes
            self.meshes_published += len(meshes)
        self._scene.log(SceneUpdate(deletions=deletions, entities=entities), log_time=stamp_ns)

    def close(self) -> None:
        """Stop the server (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        for channel in (self._image, self._calibration, self._annotations, self._tf, self._scene):
            channel.close()
        self._server.stop()

    def __enter__(self) -> "FoxgloveLive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
