"""Boxes, 2D body skeletons and id labels as ``foxglove_msgs/ImageAnnotations`` (rosbags message,
CDR in recordings), so Foxglove's Image panel draws them over the recorded camera image.
Same content and colours as the live view's protobuf annotations (:mod:`ros_phmr.viz.image`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..io.foxglove_scene import body_color
from ..io.ros2_messages import stamp_from_ns
from ..people import PersonEstimate
from ..viz.scene import BONES, SKELETON_JOINTS, person_key, person_label

IMAGE_ANNOTATIONS_TYPE = "foxglove_msgs/msg/ImageAnnotations"
LINE_LOOP, LINE_LIST = 2, 4


def image_annotations_message(typestore, people: Sequence[PersonEstimate], stamp_ns: int, kind: str = "estimate"):
    """One ImageAnnotations: per person a box (line loop), a skeleton (line list) and a label."""
    T = typestore.types
    stamp = stamp_from_ns(typestore, stamp_ns)

    def color(rgba):
        r, g, b, a = (float(v) for v in rgba)
        return T["foxglove_msgs/msg/Color"](r=r, g=g, b=b, a=a)

    def points(xy: np.ndarray) -> list:
        return [T["foxglove_msgs/msg/Point2"](x=x, y=y) for x, y in np.asarray(xy, np.float64).reshape(-1, 2).tolist()]

    shapes, texts = [], []
    for index, person in enumerate(people):
        rgba = color(body_color(kind, person_key(person, index)))
        x1, y1, x2, y2 = (float(v) for v in person.box_xyxy)
        corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
        bones = np.asarray(person.joints_2d[:SKELETON_JOINTS], np.float64)[BONES.reshape(-1)]   # (42, 2)
        for kind_code, xy, thickness in ((LINE_LOOP, corners, 2.0), (LINE_LIST, bones, 1.5)):
            shapes.append(T["foxglove_msgs/msg/PointsAnnotation"](
                timestamp=stamp, type=kind_code, points=points(xy), outline_color=rgba, outline_colors=[],
                fill_color=color((0, 0, 0, 0)), thickness=thickness))
        texts.append(T["foxglove_msgs/msg/TextAnnotation"](
            timestamp=stamp, position=T["foxglove_msgs/msg/Point2"](x=x1, y=max(y1 - 4.0, 0.0)),
            text=f"{person_label(person, index)} {person.score:.2f}", font_size=12.0,
            text_color=color((1, 1, 1, 1)), background_color=rgba))
    return T[IMAGE_ANNOTATIONS_TYPE](circles=[], points=shapes, texts=texts)
