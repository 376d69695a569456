"""Pinhole intrinsics: defaults when no calibration exists, validation, and CameraInfo input.

Pixel convention (ROS / OpenCV): pixel (i, j) has its centre at u = j, v = i; the image covers
u in [-0.5, W - 0.5]. K maps a camera-frame point (x, y, z) (x right, y down, z forward, the
ROS optical frame) to u = fx x/z + s y/z + cx, v = fy y/z + cy. No distortion: feed rectified
images (``image_rect``) with their K.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

INTRINSICS_MODES = ("diagonal", "fov")

# A principal point may lie off-centre (real lenses, crops) but one beyond half an image
# outside the frame means K belongs to another resolution or is not an intrinsic matrix.
PRINCIPAL_POINT_MARGIN = 0.5

# CameraInfo and image sizes are integers; after a resize each may be off by rounding, so
# the two per-axis scales may disagree by up to this many pixels on the image.
ASPECT_TOLERANCE_PX = 1.0


def _check_size(width, height) -> tuple:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"image {name} must be an integer, got {value!r}")
        if value <= 0:
            raise ValueError(f"image {name} must be positive, got {value} (zero-size image)")
    return int(width), int(height)


def default_intrinsics(width: int, height: int, mode: str = "diagonal", fov_deg: float = 60.0) -> np.ndarray:
    """K for an uncalibrated camera, in ORIGINAL image pixels. Returns (3, 3) float64.

    * ``"diagonal"`` (PromptHMR single-image default): f = sqrt(W^2 + H^2).
    * ``"fov"`` (Multi-HMR default, ``fov_deg`` = 60): Multi-HMR sets f = S / (2 tan(fov/2)) in
      the S x S letterboxed frame, whose side S spans the LONGER image side; expressed in the
      original image that is f = max(W, H) / (2 tan(fov/2)), i.e. ``fov_deg`` is the field of
      view across the longer side. Letterboxing this K reproduces Multi-HMR's model-frame focal.

    The principal point is (W/2, H/2) as both upstream demos use; under the pixel-centre
    convention the exact geometric centre is ((W-1)/2, (H-1)/2), half a pixel away, which is
    far below the accuracy of a guessed focal length.
    """
    width, height = _check_size(width, height)
    if mode == "diagonal":
        focal = math.hypot(width, height)
    elif mode == "fov":
        fov = float(fov_deg)
        if not (0.0 < fov < 180.0):
            raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg!r}")
        focal = max(width, height) / (2.0 * math.tan(math.radians(fov) / 2.0))
    else:
        raise ValueError(f"unknown intrinsics mode {mode!r}; expected one of {INTRINSICS_MODES}")
    return np.array(
        [[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]], dtype=np.float64
    )


def validate_intrinsics(K, width: int, height: int) -> np.ndarray:
    """Check that K is a usable pinhole matrix for a W x H image; returns it as (3, 3) float64.

    Raises ValueError for: a shape other than (3, 3); NaN/inf; fx or fy <= 0; a bottom row other
    than [0, 0, 1] or a non-zero K[1, 0] (not an upper-triangular intrinsic matrix, e.g. a
    projection matrix or a scaled K); a principal point further than half the image
    width/height outside the image, i.e. cx outside [-W/2, 1.5 W] or cy outside [-H/2, 1.5 H].
    That tolerance accepts real off-centre principal points and cropped images, and catches K
    paired with a much smaller image (a 2560x1440 calibration on a 640x360 image puts cx near
    1280, beyond 1.5 x 640). A 2x mismatch (cx near W) still passes: pass both sizes to
    :func:`intrinsics_from_camera_info`, which scales K. Skew (K[0, 1]) is kept.
    """
    width, height = _check_size(width, height)
    try:
        K = np.array(K, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"intrinsics must be a numeric 3x3 matrix: {exc}") from None
    if K.shape != (3, 3):
        raise ValueError(f"intrinsics must have shape (3, 3), got {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError(f"intrinsics contain NaN or inf: {K.tolist()}")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if fx <= 0.0 or fy <= 0.0:
        raise ValueError(
            f"focal lengths must be positive, got fx={fx}, fy={fy} "
            "(an all-zero CameraInfo.k means the camera is uncalibrated: use default_intrinsics)"
        )
    if abs(K[1, 0]) > 1e-9 or not np.allclose(K[2], [0.0, 0.0, 1.0], rtol=0.0, atol=1e-9):
        raise ValueError(f"intrinsics must be upper triangular with bottom row [0, 0, 1], got {K.tolist()}")
    m = PRINCIPAL_POINT_MARGIN
    if not (-m * width <= cx <= (1 + m) * width and -m * height <= cy <= (1 + m) * height):
        raise ValueError(
            f"principal point ({cx:.1f}, {cy:.1f}) lies far outside the {width}x{height} image "
            f"(allowed cx in [{-m * width:.1f}, {(1 + m) * width:.1f}], cy in "
            f"[{-m * height:.1f}, {(1 + m) * height:.1f}]); is K for another resolution?"
        )
    return K


def scale_intrinsics(K, from_size: Sequence[int], to_size: Sequence[int]) -> np.ndarray:
    """Re-express K (for an image of ``from_size`` = (W, H)) for the same view resized to ``to_size``.

    Uses the half-pixel-centre mapping u' = (u + 0.5) sx - 0.5 with sx = W'/W, sy = H'/H, which is
    what cv2.resize and 2x2 hardware binning do to pixel centres (image_proc's resize node uses
    the plain u' = sx u; the two differ by 0.5 (1 - sx) px). Raises ValueError when the aspect
    ratios differ by more than rounding explains (a crop, not a resize).
    """
    (w0, h0), (w1, h1) = _check_size(*from_size), _check_size(*to_size)
    sx, sy = w1 / w0, h1 / h0
    if abs(w0 * sy - w1) > ASPECT_TOLERANCE_PX or abs(h0 * sx - h1) > ASPECT_TOLERANCE_PX:
        raise ValueError(
            f"cannot scale intrinsics from {w0}x{h0} to {w1}x{h1}: the aspect ratios differ "
            "(the image is cropped, not resized); provide K for the image actually published"
        )
    K = np.array(K, dtype=np.float64)
    out = K.copy()
    out[0] = sx * K[0] + (0.5 * sx - 0.5) * K[2]
    out[1] = sy * K[1] + (0.5 * sy - 0.5) * K[2]
    return out


def intrinsics_from_camera_info(
    k: Sequence[float],
    info_width: int,
    info_height: int,
    image_width: int | None = None,
    image_height: int | None = None,
) -> np.ndarray:
    """K from a ``sensor_msgs/CameraInfo`` (its row-major ``k`` and its width/height), validated.

    When the image's size is given and differs from the CameraInfo's (a driver publishing
    1280x720 calibration for a 640x360 stream), K is scaled to the image with
    :func:`scale_intrinsics`; different aspect ratios raise ValueError. A CameraInfo with
    width = height = 0 is taken to describe the image as published. ``roi`` and ``binning``
    are not applied here: pass the already-rectified full image's CameraInfo.
    Returns (3, 3) float64 for the image's size.
    """
    flat = np.asarray(k, dtype=np.float64).reshape(-1)
    if flat.size != 9:
        raise ValueError(f"CameraInfo.k must have 9 numbers, got {flat.size}")
    K = flat.reshape(3, 3)
    if image_width is None or image_height is None:
        if image_width is not None or image_height is not None:
            raise ValueError("give both image_width and image_height, or neither")
        return validate_intrinsics(K, info_width, info_height)
    if info_width == 0 and info_height == 0:
        return validate_intrinsics(K, image_width, image_height)
    info_size = _check_size(info_width, info_height)
    image_size = _check_size(image_width, image_height)
    K = validate_intrinsics(K, *info_size)
    if info_size != image_size:
        K = scale_intrinsics(K, info_size, image_size)
    return validate_intrinsics(K, *image_size)
