"""Decode ROS image payloads (sensor_msgs/Image, CompressedImage, label masks) into numpy arrays.

The model wants (H, W, 3) uint8 RGB whatever the camera publishes, and mask prompts want a
(H, W) label array; these functions do that from the raw message fields (``data``, ``width``,
``height``, ``encoding``, ``step``, ``is_bigendian``) so they work with rclpy messages, rosbags
messages and plain bytes alike, without cv_bridge.

Encodings follow ``sensor_msgs/image_encodings``. Conventions chosen where ROS leaves room:

* 16-bit colour / mono images are reduced to 8 bits by dividing by 256 with rounding, as
  cv_bridge does. A 10/12-bit sensor packed in 16 bits therefore looks dark; publish mono8 or
  rescale upstream if that matters.
* ``yuv422`` is UYVY byte order (ROS' historical name), ``yuv422_yuy2`` is YUYV; ``uyvy`` and
  ``yuyv`` are the newer ROS names of the same layouts. Colour conversion is OpenCV's
  (ITU-R BT.601, limited range).
* The untyped OpenCV aliases are read the way cv_bridge writes them: ``8UC3`` = bgr8,
  ``8UC4`` = bgra8, ``8UC1`` = mono8, ``16UC1`` = mono16.
* Alpha is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

__all__ = [
    "SUPPORTED_ENCODINGS",
    "LABEL_ENCODINGS",
    "decode_raw_image",
    "decode_compressed_image",
    "decode_label_mask",
]


@dataclass(frozen=True)
class _Layout:
    """How one encoding is stored: bytes per channel, channels per pixel, and how to get RGB."""

    channel_bytes: int   # 1 or 2
    channels: int        # values per pixel as stored (2 for packed 4:2:2 = 2 bytes per pixel)
    to_rgb: Optional[int]  # cv2 colour code from the 8-bit array, None = already RGB


_LAYOUTS = {
    "rgb8": _Layout(1, 3, None),
    "rgba8": _Layout(1, 4, cv2.COLOR_RGBA2RGB),
    "bgr8": _Layout(1, 3, cv2.COLOR_BGR2RGB),
    "bgra8": _Layout(1, 4, cv2.COLOR_BGRA2RGB),
    "mono8": _Layout(1, 1, cv2.COLOR_GRAY2RGB),
    "rgb16": _Layout(2, 3, None),
    "rgba16": _Layout(2, 4, cv2.COLOR_RGBA2RGB),
    "bgr16": _Layout(2, 3, cv2.COLOR_BGR2RGB),
    "bgra16": _Layout(2, 4, cv2.COLOR_BGRA2RGB),
    "mono16": _Layout(2, 1, cv2.COLOR_GRAY2RGB),
    "8UC1": _Layout(1, 1, cv2.COLOR_GRAY2RGB),
    "8UC3": _Layout(1, 3, cv2.COLOR_BGR2RGB),
    "8UC4": _Layout(1, 4, cv2.COLOR_BGRA2RGB),
    "16UC1": _Layout(2, 1, cv2.COLOR_GRAY2RGB),
    "yuv422": _Layout(1, 2, cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": _Layout(1, 2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": _Layout(1, 2, cv2.COLOR_YUV2RGB_YUYV),
    "yuyv": _Layout(1, 2, cv2.COLOR_YUV2RGB_YUYV),
    # OpenCV names Bayer codes after the pattern seen from the second row and column, so a
    # sensor whose top-left 2x2 block is R G / G B (ROS bayer_rggb) needs COLOR_BayerBG2RGB.
    "bayer_rggb8": _Layout(1, 1, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": _Layout(1, 1, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": _Layout(1, 1, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": _Layout(1, 1, cv2.COLOR_BayerGB2RGB),
    "bayer_rggb16": _Layout(2, 1, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr16": _Layout(2, 1, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg16": _Layout(2, 1, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg16": _Layout(2, 1, cv2.COLOR_BayerGB2RGB),
}
_PACKED_422 = {"yuv422", "uyvy", "yuv422_yuy2", "yuyv"}

SUPPORTED_ENCODINGS = tuple(sorted(_LAYOUTS))
LABEL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1")


def _as_bytes_array(data) -> np.ndarray:
    """View any byte buffer (bytes, bytearray, memoryview, array.array('B'), uint8 ndarray) as uint8."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ValueError(f"image data must be uint8 bytes, got an array of dtype {data.dtype}")
        return data.reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        pass
    try:
        return np.asarray(data, dtype=np.uint8).reshape(-1)  # e.g. a list of ints
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"image data must be a byte buffer, got {type(data).__name__}: {exc}") from None


def _check_dims(width, height) -> tuple:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"image {name} must be an integer, got {value!r}")
        if value <= 0:
            raise ValueError(f"image {name} must be positive, got {value}")
    return int(width), int(height)


def _rows(data, width: int, height: int, row_bytes: int, step: Optional[int]) -> np.ndarray:
    """(H, row_bytes) uint8 view of the pixel bytes, skipping each row's padding."""
    buf = _as_bytes_array(data)
    if step is None or step == 0:
        step = row_bytes
    step = int(step)
    if step < row_bytes:
        raise ValueError(
            f"step {step} is smaller than one row of pixels ({width} px = {row_bytes} bytes)"
        )
    if buf.size != step * height:
        raise ValueError(
            f"data has {buf.size} bytes but step {step} x height {height} = {step * height}"
        )
    return buf.reshape(height, step)[:, :row_bytes]


def _to_8bit(rows: np.ndarray, channel_bytes: int, is_bigendian: bool) -> np.ndarray:
    """8-bit values of the row bytes; 16-bit values are divided by 256 with rounding (cv_bridge)."""
    if channel_bytes == 1:
        return rows
    wide = np.ascontiguousarray(rows).view(">u2" if is_bigendian else "<u2")
    return ((wide.astype(np.uint32) + 128) >> 8).clip(0, 255).astype(np.uint8)


def decode_raw_image(data, width: int, height: int, encoding: str, step: Optional[int] = None,
                     is_bigendian=False) -> np.ndarray:
    """sensor_msgs/Image fields -> (H, W, 3) uint8 RGB, a new writable C-contiguous array.

    ``step`` is the row length in bytes including padding (None or 0 = rows are packed).
    ``is_bigendian`` only matters for 16-bit encodings. Raises ValueError naming the problem
    for an unsupported encoding (listing the supported ones), a non-positive size, an odd
    width for 4:2:2 data, a step shorter than a row, or a data length other than step x height.
    """
    width, height = _check_dims(width, height)
    layout = _LAYOUTS.get(encoding)
    if layout is None:
        raise ValueError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    if encoding in _PACKED_422 and width % 2:
        raise ValueError(f"{encoding} packs two pixels per 4 bytes; width {width} must be even")
    row_bytes = width * layout.channels * layout.channel_bytes
    rows = _rows(data, width, height, row_bytes, step)
    pixels = _to_8bit(rows, layout.channel_bytes, bool(is_bigendian))  # (H, W * channels)
    if layout.to_rgb is None:
        return np.array(pixels, order="C").reshape(height, width, 3)  # copy: never alias the message
    shape = (height, width) if layout.channels == 1 else (height, width, layout.channels)
    return cv2.cvtColor(np.ascontiguousarray(pixels).reshape(shape), layout.to_rgb)


def decode_compressed_image(data, format: str = "") -> np.ndarray:  # noqa: A002 (ROS field name)
    """sensor_msgs/CompressedImage fields -> (H, W, 3) uint8 RGB.

    Any format OpenCV can decode (JPEG, PNG, ...) works; ``format`` (e.g. "jpeg",
    "bgr8; jpeg compressed bgr8") is only used to refuse depth images ("compressedDepth") and
    to name the data in errors. Grey and 16-bit PNGs come back as 8-bit RGB. Raises ValueError
    for empty or undecodable data.
    """
    if "compresseddepth" in format.replace(" ", "").lower():
        raise ValueError(f"compressed format {format!r} is a depth image, not a colour image")
    buf = _as_bytes_array(data)
    if buf.size == 0:
        raise ValueError("compressed image data is empty")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(
            f"could not decode {buf.size} bytes of compressed image data (format {format!r}); "
            "expected JPEG or PNG"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decode_label_mask(data, width: int, height: int, encoding: str, step: Optional[int] = None,
                      is_bigendian=False) -> np.ndarray:
    """Label image (mono8/8UC1 or mono16/16UC1) -> (H, W) uint8 or uint16 label values.

    Values are returned unscaled (a 16-bit label 300 stays 300), in native byte order, as a
    new writable array. Raises ValueError like :func:`decode_raw_image`, and for encodings
    that cannot hold labels.
    """
    width, height = _check_dims(width, height)
    if encoding not in LABEL_ENCODINGS:
        raise ValueError(
            f"unsupported label-mask encoding {encoding!r}; supported: {', '.join(LABEL_ENCODINGS)}"
        )
    channel_bytes = 2 if encoding in ("mono16", "16UC1") else 1
    rows = _rows(data, width, height, width * channel_bytes, step)
    if channel_bytes == 1:
        return np.array(rows, dtype=np.uint8, order="C")
    wide = np.ascontiguousarray(rows).view(">u2" if is_bigendian else "<u2")
    return wide.astype(np.uint16)  # native order, always a copy
