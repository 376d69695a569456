"""Aspect-preserving resize + centred black padding to the S x S model input, with the exact
matching transforms for intrinsics, pixels and boxes.

Pixel convention (ROS / OpenCV): pixel (i, j) has its centre at (u, v) = (j, i); a W-wide image
covers u in [-0.5, W - 0.5]. Resizing W -> W' with half-pixel centres (what cv2.resize,
F.interpolate(align_corners=False) and PIL all do) maps u to (u + 0.5) W'/W - 0.5, so a
letterbox with integer content size (new_w, new_h) and integer padding (pad_x, pad_y) maps

    u' = (u + 0.5) * sx - 0.5 + pad_x,   sx = new_w / W
    v' = (v + 0.5) * sy - 0.5 + pad_y,   sy = new_h / H

and a pinhole K to K' = A K with A = [[sx, 0, tx], [0, sy, ty], [0, 0, 1]], tx = 0.5 sx - 0.5 +
pad_x (ty likewise). Projecting with K' therefore lands exactly where the resampled image put
the point. Box corners are treated as continuous coordinates and use the same map.

Upstream (PromptHMR, Multi-HMR) instead scales K, points and boxes by the float s = S / max(W, H)
and shifts by the float offset (S - s [W, H]) / 2, while the image itself is pasted at an
integer offset with a rounded content size. Against the pixels they actually produce, that is
off by the missing half-pixel term 0.5 (s - 1) plus the rounding of pad and short side: within
about 0.5 px when shrinking (s < 1, the usual case for camera images), but growing with s when
enlarging small images (about 1 px at s = 3). This module has no such gap. Content size and pad
are rounded exactly as PIL's ``ImageOps.contain`` / ``ImageOps.pad`` do, so the images line up
with upstream's pixel for pixel.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCH_RESAMPLE_MODES = ("bilinear", "bicubic")
NUMPY_UPSAMPLE_MODES = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def _stack_last(parts, like, axis: int):
    if isinstance(like, torch.Tensor):
        return torch.stack(parts, dim=axis)
    return np.stack(parts, axis=axis)


def _as_float_array(x, name: str, last: tuple):
    """torch tensors stay on their device (integer ones become float); anything else -> float64 numpy."""
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
    else:
        x = np.asarray(x, dtype=np.float64)
    if x.ndim < len(last) or tuple(x.shape[-len(last):]) != last:
        raise ValueError(f"{name} must have shape (..., {', '.join(map(str, last))}), got {tuple(x.shape)}")
    return x


@dataclass(frozen=True)
class Letterbox:
    """Where a W x H image sits inside the S x S letterboxed image. Build it with :meth:`fit`.

    ``scale`` = S / max(W, H) is the nominal factor (exact along the longer side); the content is
    ``new_width`` x ``new_height`` pixels, so the per-axis factors :attr:`scale_x` and
    :attr:`scale_y` can differ from ``scale`` by the rounding of the shorter side.
    """

    src_width: int
    src_height: int
    size: int
    scale: float
    pad_x: int
    pad_y: int
    new_width: int
    new_height: int

    @classmethod
    def fit(cls, width: int, height: int, size: int) -> "Letterbox":
        """Letterbox for a ``width`` x ``height`` image into ``size`` x ``size`` (PIL's rounding)."""
        width = _positive_int(width, "image width")
        height = _positive_int(height, "image height")
        size = _positive_int(size, "letterbox size")
        if width >= height:
            new_w, new_h = size, max(1, round(height / width * size))
        else:
            new_w, new_h = max(1, round(width / height * size)), size
        return cls(
            src_width=width,
            src_height=height,
            size=size,
            scale=size / max(width, height),
            pad_x=round((size - new_w) * 0.5),
            pad_y=round((size - new_h) * 0.5),
            new_width=new_w,
            new_height=new_h,
        )

    @property
    def scale_x(self) -> float:
        return self.new_width / self.src_width

    @property
    def scale_y(self) -> float:
        return self.new_height / self.src_height

    @property
    def offset_x(self) -> float:
        """tx in u' = sx u + tx."""
        return 0.5 * self.scale_x - 0.5 + self.pad_x

    @property
    def offset_y(self) -> float:
        return 0.5 * self.scale_y - 0.5 + self.pad_y

    # --- intrinsics: K' = A K and back -----------------------------------------------------
    def intrinsics_to_letterbox(self, K):
        """K (..., 3, 3) of the original image -> K of the letterboxed image (numpy or torch)."""
        K = _as_float_array(K, "intrinsics", (3, 3))
        row0, row1, row2 = K[..., 0, :], K[..., 1, :], K[..., 2, :]
        return _stack_last(
            (self.scale_x * row0 + self.offset_x * row2, self.scale_y * row1 + self.offset_y * row2, row2), K, -2
        )

    def intrinsics_to_original(self, K):
        """Inverse of :meth:`intrinsics_to_letterbox`."""
        K = _as_float_array(K, "intrinsics", (3, 3))
        row0, row1, row2 = K[..., 0, :], K[..., 1, :], K[..., 2, :]
        return _stack_last(
            ((row0 - self.offset_x * row2) / self.scale_x, (row1 - self.offset_y * row2) / self.scale_y, row2),
            K,
            -2,
        )

    # --- pixels (..., 2) as (u, v) -------------------------------------------------------
    def points_to_letterbox(self, uv):
        uv = _as_float_array(uv, "points", (2,))
        return _stack_last(
            (uv[..., 0] * self.scale_x + self.offset_x, uv[..., 1] * self.scale_y + self.offset_y), uv, -1
        )

    def points_to_original(self, uv):
        uv = _as_float_array(uv, "points", (2,))
        return _stack_last(
            ((uv[..., 0] - self.offset_x) / self.scale_x, (uv[..., 1] - self.offset_y) / self.scale_y), uv, -1
        )

    # --- boxes (..., 4) as xyxy ----------------------------------------------------------
    def boxes_to_letterbox(self, boxes):
        boxes = _as_float_array(boxes, "boxes", (4,))
        sx, sy, tx, ty = self.scale_x, self.scale_y, self.offset_x, self.offset_y
        return _stack_last(
            (boxes[..., 0] * sx + tx, boxes[..., 1] * sy + ty, boxes[..., 2] * sx + tx, boxes[..., 3] * sy + ty),
            boxes,
            -1,
        )

    def boxes_to_original(self, boxes):
        boxes = _as_float_array(boxes, "boxes", (4,))
        sx, sy, tx, ty = self.scale_x, self.scale_y, self.offset_x, self.offset_y
        return _stack_last(
            ((boxes[..., 0] - tx) / sx, (boxes[..., 1] - ty) / sy, (boxes[..., 2] - tx) / sx, (boxes[..., 3] - ty) / sy),
            boxes,
            -1,
        )


def _image_size(shape, what: str) -> tuple:
    if len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"{what} must be an RGB image of shape (H, W, 3), got shape {tuple(shape)}")
    height, width = int(shape[0]), int(shape[1])
    if height == 0 or width == 0:
        raise ValueError(f"{what} is empty (zero-size image {width}x{height})")
    return width, height


def letterbox_numpy(img: np.ndarray, size: int, upsample: str = "bicubic") -> tuple:
    """Letterbox an (H, W, 3) uint8 image on the CPU with OpenCV -> ((S, S, 3) uint8, Letterbox).

    Shrinking uses INTER_AREA (an exact box filter, no aliasing); growing uses ``upsample``
    ("bicubic" -> INTER_CUBIC, "bilinear" -> INTER_LINEAR). Padding is black and centred.
    """
    if not isinstance(img, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB, got dtype {img.dtype}")
    if upsample not in NUMPY_UPSAMPLE_MODES:
        raise ValueError(f"unknown upsample mode {upsample!r}; expected one of {tuple(NUMPY_UPSAMPLE_MODES)}")
    width, height = _image_size(img.shape, "image")
    box = Letterbox.fit(width, height, size)
    if (box.new_width, box.new_height) == (width, height):
        content = img
    else:
        interpolation = cv2.INTER_AREA if box.scale < 1.0 else NUMPY_UPSAMPLE_MODES[upsample]
        content = cv2.resize(np.ascontiguousarray(img), (box.new_width, box.new_height), interpolation=interpolation)
    out = np.zeros((box.size, box.size, 3), dtype=np.uint8)
    out[box.pad_y : box.pad_y + box.new_height, box.pad_x : box.pad_x + box.new_width] = content
    return out, box


def letterbox_torch(img: torch.Tensor, size: int, normalize: bool = True, mode: str = "bicubic") -> tuple:
    """Letterbox an (H, W, 3) uint8 RGB tensor on its own device -> ((3, S, S) float32, Letterbox).

    One antialiased resample (``F.interpolate(mode, antialias=True)``, PIL-like; bicubic is the
    upstream choice), clamped and rounded to the uint8 grid like the PIL image upstream feeds,
    then black padding. With ``normalize`` the result is ImageNet-normalised ((x/255 - mean)/std,
    so padded pixels equal -mean/std exactly as upstream); without it, x/255 in [0, 1].
    The Letterbox depends only on shapes, so no value leaves the device.
    """
    if not isinstance(img, torch.Tensor):
        raise ValueError(f"image must be a torch.Tensor, got {type(img).__name__}")
    if img.dtype != torch.uint8:
        raise ValueError(f"image must be uint8 RGB, got dtype {img.dtype}")
    if mode not in TORCH_RESAMPLE_MODES:
        raise ValueError(f"unknown resample mode {mode!r}; expected one of {TORCH_RESAMPLE_MODES}")
    width, height = _image_size(img.shape, "image")
    box = Letterbox.fit(width, height, size)
    x = img.permute(2, 0, 1).unsqueeze(0).to(torch.float32)  # (1, 3, H, W) in 0..255
    if (box.new_width, box.new_height) != (width, height):
        x = F.interpolate(x, size=(box.new_height, box.new_width), mode=mode, align_corners=False, antialias=True)
        x = x.clamp(0.0, 255.0).round()  # (1, 3, new_h, new_w)
    right = box.size - box.new_width - box.pad_x
    bottom = box.size - box.new_height - box.pad_y
    x = F.pad(x, (box.pad_x, right, box.pad_y, bottom), value=0.0)[0]  # (3, S, S)
    if not normalize:
        return x / 255.0, box
    # Per-channel affine with Python scalars: no host->device copy, CUDA-graph friendly.
    channels = [x[c] * (1.0 / (255.0 * IMAGENET_STD[c])) - IMAGENET_MEAN[c] / IMAGENET_STD[c] for c in range(3)]
    return torch.stack(channels, dim=0), box
