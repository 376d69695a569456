"""Pinhole projection and 2D boxes (xyxy, pixel convention of :mod:`ros_phmr.geometry.camera`).

Box coordinates are continuous: a box (x1, y1, x2, y2) needs x1 < x2 and y1 < y2, and the image
extent used for clipping is [0, W] x [0, H], as upstream clips boxes to [0, S].
"""
from __future__ import annotations

import numpy as np
import torch

# Depth floor (metres) for projection: points closer than this are projected as if at it.
DEFAULT_MIN_DEPTH = 1e-6


def project_points(points, K, min_depth: float = DEFAULT_MIN_DEPTH):
    """Perspective projection. points (..., N, 3), K (..., 3, 3) or (3, 3) -> uv (..., N, 2).

    Depth is clamped to ``min_depth`` before dividing, so points on or behind the camera plane
    give large but finite pixels instead of inf/NaN (and no data-dependent branch); callers that
    need visibility should test ``points[..., 2] > min_depth`` themselves. Accepts torch tensors
    (result on the same device) or numpy arrays (numpy result); in the hot path pass K as a tensor
    already on the points' device so nothing is copied from the host.
    """
    as_numpy = not isinstance(points, torch.Tensor)
    pts = torch.as_tensor(np.asarray(points, dtype=np.float64)) if as_numpy else points
    if not isinstance(K, torch.Tensor):
        K = torch.as_tensor(np.asarray(K, dtype=np.float64))
    K = K.to(device=pts.device, dtype=pts.dtype)
    if pts.ndim < 2 or pts.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., N, 3), got {tuple(pts.shape)}")
    if K.ndim < 2 or tuple(K.shape[-2:]) != (3, 3):
        raise ValueError(f"K must have shape (..., 3, 3), got {tuple(K.shape)}")
    z = pts[..., 2:3].clamp(min=min_depth)  # (..., N, 1)
    normalized = torch.cat((pts[..., 0:2] / z, torch.ones_like(z)), dim=-1)  # (..., N, 3)
    uv = (normalized @ K.transpose(-1, -2))[..., 0:2]  # (..., N, 2); K's bottom row is [0, 0, 1]
    return uv.numpy() if as_numpy else uv


def boxes_from_points(uv, valid=None):
    """Tight xyxy box around points. uv (..., N, 2), valid (..., N) bool or None -> (..., 4).

    Points with ``valid == False`` are ignored; a box with no valid point is all NaN (computed
    with ``torch.where``, no host sync). Accepts torch or numpy like :func:`project_points`.
    """
    as_numpy = not isinstance(uv, torch.Tensor)
    pts = torch.as_tensor(np.asarray(uv, dtype=np.float64)) if as_numpy else uv
    if pts.ndim < 2 or pts.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., N, 2), got {tuple(pts.shape)}")
    if valid is None:
        lo = pts.amin(dim=-2)  # (..., 2)
        hi = pts.amax(dim=-2)
        box = torch.cat((lo, hi), dim=-1)
    else:
        valid = torch.as_tensor(valid, device=pts.device)
        if valid.dtype != torch.bool or tuple(valid.shape) != tuple(pts.shape[:-1]):
            raise ValueError(f"valid must be a bool mask of shape {tuple(pts.shape[:-1])}, got {valid.dtype} {tuple(valid.shape)}")
        inf = torch.full_like(pts, float("inf"))
        mask = valid[..., None]  # (..., N, 1)
        lo = torch.where(mask, pts, inf).amin(dim=-2)
        hi = torch.where(mask, pts, -inf).amax(dim=-2)
        box = torch.cat((lo, hi), dim=-1)  # (..., 4)
        box = torch.where(valid.any(dim=-1)[..., None], box, torch.full_like(box, float("nan")))
    return box.numpy() if as_numpy else box


def boxes_between_intrinsics(boxes: torch.Tensor, K_from: torch.Tensor, K_to: torch.Tensor) -> torch.Tensor:
    """xyxy pixel boxes (..., 4) of one camera under intrinsics K_from (3, 3) -> the same boxes
    under K_to (3, 3), for images that differ by a scale and a shift (a resize or letterbox):
    u' = (u - cx) fx' / fx + cx'. Pure tensor arithmetic, so it runs inside captured graphs."""
    scale = torch.stack([K_to[0, 0] / K_from[0, 0], K_to[1, 1] / K_from[1, 1]]).repeat(2)  # (4,)
    centre_from = K_from[:2, 2].repeat(2)
    centre_to = K_to[:2, 2].repeat(2)
    return (boxes - centre_from.to(boxes.dtype)) * scale.to(boxes.dtype) + centre_to.to(boxes.dtype)


def clip_boxes(boxes, width: float, height: float):
    """Clip xyxy boxes (..., 4) to [0, W] x [0, H]; numpy or torch, same type out."""
    if isinstance(boxes, torch.Tensor):
        x = boxes[..., 0::2].clamp(0.0, float(width))
        y = boxes[..., 1::2].clamp(0.0, float(height))
        return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)
    boxes = np.asarray(boxes, dtype=np.float64)
    x = np.clip(boxes[..., 0::2], 0.0, float(width))
    y = np.clip(boxes[..., 1::2], 0.0, float(height))
    return np.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), axis=-1)


def validate_boxes(boxes, width: int, height: int) -> np.ndarray:
    """Check user-supplied xyxy boxes (N, 4) for a W x H image; returns them clipped, float64.

    Boxes partly outside the image are clipped to it. ValueError, naming the box index, for
    NaN/inf, x2 <= x1 or y2 <= y1, or a box entirely outside the image (nothing left after
    clipping). Host-side: use it on prompts as they arrive, not in the compiled hot path.
    """
    try:
        arr = np.array(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"boxes must be numeric xyxy rows: {exc}") from None
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as x1, y1, x2, y2, got {arr.shape}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    for i, (x1, y1, x2, y2) in enumerate(arr):
        if not np.all(np.isfinite(arr[i])):
            raise ValueError(f"box {i} contains NaN or inf: {arr[i].tolist()}")
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"box {i} is empty or inverted (need x1 < x2 and y1 < y2): {arr[i].tolist()}")
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise ValueError(f"box {i} lies entirely outside the {width}x{height} image: {arr[i].tolist()}")
    return clip_boxes(arr, width, height)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy -> (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return inter / np.maximum(union, 1e-9)
