"""The camera side of the Foxglove view: raw image, calibration, and 2D annotations (boxes,
body skeletons, id labels) drawn by Foxglove's Image panel over the picture."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from foxglove.messages import (CameraCalibration, ImageAnnotations, Point2, PointsAnnotation,
                               PointsAnnotationType, RawImage, TextAnnotation)

from ..io.foxglove_scene import body_color
from ..people import PersonEstimate
from .messages import color, timestamp
from .scene import BONES, SKELETON_JOINTS, person_key, person_label


def raw_image(image: np.ndarray, stamp_ns: int, frame_id: str) -> RawImage:
    """RawImage (rgb8) from an (H, W, 3) uint8 RGB array."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
        raise ValueError(f"image must be a non-empty (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    return RawImage(timestamp=timestamp(stamp_ns), frame_id=frame_id, width=width, height=height,
                    encoding="rgb8", step=3 * width, data=np.ascontiguousarray(image).tobytes())


def camera_calibration(K: np.ndarray, width: int, height: int, stamp_ns: int, frame_id: str) -> CameraCalibration:
    """CameraCalibration of an undistorted pinhole camera with intrinsics ``K`` (3, 3)."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be (3, 3), got {K.shape}")
    P = np.zeros((3, 4))
    P[:, :3] = K
    return CameraCalibration(timestamp=timestamp(stamp_ns), frame_id=frame_id, width=int(width),
                             height=int(height), distortion_model="plumb_bob", D=[0.0] * 5,
                             K=K.reshape(-1).tolist(), R=np.eye(3).reshape(-1).tolist(), P=P.reshape(-1).tolist())


def _points2(xy: np.ndarray) -> list:
    return [Point2(x=x, y=y) for x, y in np.asarray(xy, dtype=np.float64).reshape(-1, 2).tolist()]


def image_annotations(people: Sequence[PersonEstimate], stamp_ns: int, kind: str = "estimate") -> ImageAnnotations:
    """Per person: the box (line loop), the 2D body skeleton (line list) and its id label."""
    stamp = timestamp(stamp_ns)
    points, texts = [], []
    for index, person in enumerate(people):
        rgba = color(body_color(kind, person_key(person, index)))
        x1, y1, x2, y2 = (float(v) for v in person.box_xyxy)
        points.append(PointsAnnotation(timestamp=stamp, type=PointsAnnotationType.LineLoop,
                                       points=_points2(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])),
                                       outline_color=rgba, thickness=2.0))
        joints2d = np.asarray(person.joints_2d[:SKELETON_JOINTS], dtype=np.float64)   # (22, 2)
        points.append(PointsAnnotation(timestamp=stamp, type=PointsAnnotationType.LineList,
                                       points=_points2(joints2d[BONES.reshape(-1)]), outline_color=rgba,
                                       thickness=1.5))
        texts.append(TextAnnotation(timestamp=stamp, position=Point2(x=x1, y=max(y1 - 4.0, 0.0)),
                                    text=f"{person_label(person, index)} {person.score:.2f}", font_size=12.0,
                                    text_color=color((1.0, 1.0, 1.0, 1.0)), background_color=rgba))
    return ImageAnnotations(points=points, texts=texts)
