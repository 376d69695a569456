"""A PNG of what the live view shows for one frame: the camera image with the estimated meshes,
boxes, skeletons and id labels drawn over it (software renderer, no GPU, no browser).

Used for the README picture (docs/live_frame.png) and for checking a model by eye without
starting Foxglove.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence, Union

import cv2
import numpy as np

from ..io.foxglove_scene import body_color
from ..people import PersonEstimate
from ..render import overlay_meshes
from .scene import BONES, SKELETON_JOINTS, person_key, person_label


def overlay_people(image: np.ndarray, K: np.ndarray, people: Sequence[PersonEstimate], faces: np.ndarray,
                   kind: str = "estimate", alpha: float = 0.6) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of ``image`` with each person's mesh (if any), box, 2D skeleton
    and label in its track colour, the colours the Foxglove scene uses."""
    colors = np.array([body_color(kind, person_key(p, i))[:3] for i, p in enumerate(people)]).reshape(-1, 3)
    meshed = [(i, p) for i, p in enumerate(people) if p.vertices is not None]
    out = np.array(image, dtype=np.uint8, copy=True)
    if meshed:
        out = overlay_meshes(out, [(p.vertices, faces) for _, p in meshed], K, alpha=alpha,
                             colors=colors[[i for i, _ in meshed]])
    for i, person in enumerate(people):
        rgb = tuple(int(c) for c in np.round(colors[i] * 255))
        x1, y1, x2, y2 = (int(round(float(v))) for v in person.box_xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), rgb, 1, cv2.LINE_AA)
        pts = np.round(person.joints_2d[:SKELETON_JOINTS]).astype(int)
        for a, b in BONES:
            cv2.line(out, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(out, person_label(person, i), (x1 + 2, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, rgb, 1,
                    cv2.LINE_AA)
    return out


def _caption(picture: np.ndarray, text: str) -> None:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(picture, (0, 0), (w + 10, h + 10), (0, 0, 0), -1)
    cv2.putText(picture, text, (5, h + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def write_snapshot_png(path: Union[str, Path], panels: Sequence[tuple]) -> Path:
    """Write panels side by side: ``panels`` = [(caption, (H, W, 3) uint8 RGB image), ...]."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder {path.parent} does not exist")
    images = []
    for caption, image in panels:
        image = np.array(image, dtype=np.uint8, copy=True)
        _caption(image, caption)
        images.append(image)
    if len({im.shape[0] for im in images}) != 1:
        raise ValueError("panels must have the same height")
    if not cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(images, axis=1), cv2.COLOR_RGB2BGR)):
        raise ValueError(f"could not write PNG to {path}")
    return path
