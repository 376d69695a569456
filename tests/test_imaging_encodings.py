"""Image decoding against payloads encoded independently here (numpy / OpenCV encoders)."""
import array

import cv2
import numpy as np
import pytest

from ros_phmr.imaging.encodings import (
    SUPPORTED_ENCODINGS,
    decode_compressed_image,
    decode_label_mask,
    decode_raw_image,
)

H, W = 6, 8


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def _pad_rows(pixels: np.ndarray, pad: int) -> tuple:
    """Row bytes of ``pixels`` followed by ``pad`` garbage bytes per row; returns (bytes, step)."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    garbage = np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)
    padded = np.concatenate([rows, garbage], axis=1)
    return padded.tobytes(), padded.shape[1]


# ---- 8-bit colour ------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding, make", [
    ("rgb8", lambda x: x),
    ("bgr8", lambda x: x[..., ::-1]),
    ("8UC3", lambda x: x[..., ::-1]),
    ("rgba8", lambda x: np.concatenate([x, np.full_like(x[..., :1], 7)], axis=-1)),
    ("bgra8", lambda x: np.concatenate([x[..., ::-1], np.full_like(x[..., :1], 7)], axis=-1)),
    ("8UC4", lambda x: np.concatenate([x[..., ::-1], np.full_like(x[..., :1], 7)], axis=-1)),
])
def test_8bit_colour_encodings_give_exact_rgb(rgb, encoding, make):
    payload = np.ascontiguousarray(make(rgb))
    out = decode_raw_image(payload.tobytes(), W, H, encoding)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8_is_replicated_to_three_channels(rgb, encoding):
    grey = rgb[..., 0]
    out = decode_raw_image(grey.tobytes(), W, H, encoding)
    np.testing.assert_array_equal(out, np.repeat(grey[..., None], 3, axis=-1))


# ---- 16-bit: divided by 256 with rounding, both byte orders ----------------------------------

@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_mono16_scaled_to_8bit_in_both_byte_orders(encoding, bigendian):
    rng = np.random.default_rng(1)
    high = rng.integers(0, 255, size=(H, W)).astype(np.uint16)
    low = rng.integers(0, 256, size=(H, W)).astype(np.uint16)
    values = high * 256 + low                     # 8-bit value = round(v / 256)
    expected = (high + (low >= 128)).astype(np.uint8)
    payload = values.astype(">u2" if bigendian else "<u2").tobytes()
    out = decode_raw_image(payload, W, H, encoding, is_bigendian=bigendian)
    np.testing.assert_array_equal(out, np.repeat(expected[..., None], 3, axis=-1))


def test_mono16_full_scale_saturates_at_255():
    payload = np.full((H, W), 65535, dtype="<u2").tobytes()
    assert decode_raw_image(payload, W, H, "mono16").min() == 255


@pytest.mark.parametrize("encoding, order, alpha", [
    ("rgb16", [0, 1, 2], False), ("bgr16", [2, 1, 0], False),
    ("rgba16", [0, 1, 2], True), ("bgra16", [2, 1, 0], True),
])
def test_16bit_colour_encodings(rgb, encoding, order, alpha):
    wide = rgb[..., order].astype(np.uint16) * 256 + 100   # low byte < 128: rounds down
    if alpha:
        wide = np.concatenate([wide, np.full_like(wide[..., :1], 65535)], axis=-1)
    out = decode_raw_image(wide.astype(">u2").tobytes(), W, H, encoding, is_bigendian=1)
    np.testing.assert_array_equal(out, rgb)


# ---- packed YUV 4:2:2, encoded here with the BT.601 limited-range equations ------------------

def _bt601_yuv(rgb: np.ndarray) -> tuple:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return tuple(np.clip(np.round(c), 0, 255).astype(np.uint8) for c in (y, u, v))


def _pairwise_constant(rgb: np.ndarray) -> np.ndarray:
    """Each horizontal pixel pair gets one colour, so 4:2:2 chroma subsampling loses nothing."""
    return np.repeat(rgb[:, ::2], 2, axis=1)


def _pack_422(rgb: np.ndarray, order: str) -> bytes:
    y, u, v = _bt601_yuv(rgb)
    planes = {"Y0": y[:, 0::2], "Y1": y[:, 1::2], "U": u[:, 0::2], "V": v[:, 0::2]}
    names = ["U", "Y0", "V", "Y1"] if order == "uyvy" else ["Y0", "U", "Y1", "V"]
    return np.stack([planes[n] for n in names], axis=-1).tobytes()   # (H, W/2, 4)


@pytest.mark.parametrize("encoding, order", [
    ("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"), ("yuyv", "yuyv"),
])
def test_packed_yuv422_matches_bt601_reference(rgb, encoding, order):
    img = _pairwise_constant(rgb)
    out = decode_raw_image(_pack_422(img, order), W, H, encoding)
    diff = np.abs(out.astype(int) - img.astype(int))
    assert diff.max() <= 2, f"max colour error {diff.max()} levels"


def test_yuv422_byte_orders_are_not_interchangeable(rgb):
    img = _pairwise_constant(rgb)
    wrong = decode_raw_image(_pack_422(img, "yuyv"), W, H, "yuv422")   # yuv422 = UYVY in ROS
    assert np.abs(wrong.astype(int) - img.astype(int)).max() > 20


def test_yuv422_with_odd_width_is_refused():
    with pytest.raises(ValueError, match="width 7 must be even"):
        decode_raw_image(bytes(2 * 7 * 2), 7, 2, "yuv422")


# ---- Bayer: a flat colour mosaicked here must come back as that colour -----------------------

@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_patterns_demosaic_to_the_right_colour(pattern, bits):
    colour = {"r": 200, "g": 110, "b": 30}
    mosaic = np.empty((H, W), dtype=np.uint16)
    for k, channel in enumerate(pattern):           # 2x2 tile in row-major order
        mosaic[k // 2::2, k % 2::2] = colour[channel]
    if bits == 16:
        payload = (mosaic * 256).astype("<u2").tobytes()
    else:
        payload = mosaic.astype(np.uint8).tobytes()
    out = decode_raw_image(payload, W, H, f"bayer_{pattern}{bits}")
    inner = out[2:-2, 2:-2].reshape(-1, 3)
    np.testing.assert_array_equal(inner, np.tile([200, 110, 30], (len(inner), 1)))


# ---- row padding and input buffer types ------------------------------------------------------

@pytest.mark.parametrize("encoding, make, pad", [
    ("rgb8", lambda x: x, 5), ("bgr8", lambda x: x[..., ::-1], 3),
    ("rgba8", lambda x: np.concatenate([x, x[..., :1]], axis=-1), 16),
    ("mono8", lambda x: x[..., :1], 1),
])
def test_step_padding_is_skipped(rgb, encoding, make, pad):
    if encoding == "mono8":
        rgb = np.repeat(rgb[..., :1], 3, axis=-1)
    data, step = _pad_rows(np.ascontiguousarray(make(rgb)), pad)
    out = decode_raw_image(data, W, H, encoding, step=step)
    np.testing.assert_array_equal(out, rgb)


def test_step_padding_with_16bit_and_yuv(rgb):
    values = (rgb[..., 0].astype(np.uint16) * 256)
    data, step = _pad_rows(values.astype(">u2"), 6)
    out = decode_raw_image(data, W, H, "mono16", step=step, is_bigendian=True)
    np.testing.assert_array_equal(out[..., 0], rgb[..., 0])
    img = _pairwise_constant(rgb)
    packed = np.frombuffer(_pack_422(img, "uyvy"), np.uint8).reshape(H, -1)
    data, step = _pad_rows(packed, 12)
    out = decode_raw_image(data, W, H, "yuv422", step=step)
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 2


@pytest.mark.parametrize("wrap", [
    bytes, bytearray, memoryview, lambda b: array.array("B", b),
    lambda b: np.frombuffer(b, np.uint8), lambda b: list(b),
], ids=["bytes", "bytearray", "memoryview", "array", "ndarray", "list"])
def test_any_byte_buffer_is_accepted(rgb, wrap):
    out = decode_raw_image(wrap(rgb.tobytes()), W, H, "rgb8", step=W * 3)
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono16"])
def test_output_is_writable_and_never_aliases_the_message(rgb, encoding):
    data = np.frombuffer(rgb.tobytes() if encoding != "mono16" else rgb[..., :2].tobytes(), np.uint8).copy()
    before = data.copy()
    out = decode_raw_image(data, W, H, encoding)
    assert out.flags.writeable and out.flags.c_contiguous
    out[...] = 0
    np.testing.assert_array_equal(data, before)


# ---- bad input -------------------------------------------------------------------------------

def test_unsupported_encoding_lists_the_supported_ones():
    with pytest.raises(ValueError, match="unsupported image encoding 'nv21'") as err:
        decode_raw_image(bytes(12), 2, 2, "nv21")
    for name in ("rgb8", "bgr8", "mono16", "yuv422", "yuv422_yuy2"):
        assert name in str(err.value)
    assert set(("rgb8", "bgra8", "uyvy", "yuyv", "8UC3")) <= set(SUPPORTED_ENCODINGS)


@pytest.mark.parametrize("width, height", [(0, 4), (4, 0), (-1, 4)])
def test_zero_or_negative_size_is_refused(width, height):
    with pytest.raises(ValueError, match="must be positive"):
        decode_raw_image(b"", width, height, "rgb8")


def test_step_shorter_than_a_row_is_refused():
    with pytest.raises(ValueError, match="step 10 is smaller than one row"):
        decode_raw_image(bytes(10 * 2), 4, 2, "rgb8", step=10)


@pytest.mark.parametrize("size", [W * H * 3 - 1, W * H * 3 + 3, 0])
def test_data_length_mismatch_is_refused(size):
    with pytest.raises(ValueError, match=f"data has {size} bytes but step {W * 3} x height {H}"):
        decode_raw_image(bytes(size), W, H, "rgb8")


def test_non_byte_array_is_refused():
    with pytest.raises(ValueError, match="dtype float32"):
        decode_raw_image(np.zeros(W * H * 3, np.float32), W, H, "rgb8")


# ---- compressed ------------------------------------------------------------------------------

def test_png_round_trip_is_exact_and_rgb_ordered(rgb):
    ok, png = cv2.imencode(".png", rgb[..., ::-1])   # OpenCV encodes BGR
    assert ok
    for data in (png.tobytes(), png, array.array("B", png.tobytes())):
        np.testing.assert_array_equal(decode_compressed_image(data, "png"), rgb)


def test_jpeg_decodes_close_to_the_source():
    yy, xx = np.mgrid[0:64, 0:80]
    smooth = np.stack([xx * 3, yy * 3, 255 - xx * 2], axis=-1).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", smooth[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = decode_compressed_image(jpg.tobytes(), "bgr8; jpeg compressed bgr8")
    assert out.shape == (64, 80, 3)
    assert np.abs(out.astype(int) - smooth.astype(int)).mean() < 3


def test_grey_16bit_png_becomes_8bit_rgb():
    grey = (np.arange(W * H, dtype=np.uint16).reshape(H, W) * 1000)
    ok, png = cv2.imencode(".png", grey)
    out = decode_compressed_image(png.tobytes(), "mono16; png compressed")
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


@pytest.mark.parametrize("data, fmt, message", [
    (b"", "jpeg", "empty"),
    (b"\xff\xd8 definitely not a jpeg", "jpeg", "could not decode 24 bytes"),
    (b"\x89PNG....", "16UC1; compressedDepth png", "depth image"),
])
def test_bad_compressed_data_is_refused(data, fmt, message):
    with pytest.raises(ValueError, match=message):
        decode_compressed_image(data, fmt)


# ---- label masks -----------------------------------------------------------------------------

@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_labels_are_kept_unscaled(bigendian):
    labels = np.array([[0, 1, 300, 65535]] * 3, dtype=np.uint16)
    data, step = _pad_rows(labels.astype(">u2" if bigendian else "<u2"), 2)
    out = decode_label_mask(data, 4, 3, "mono16", step=step, is_bigendian=bigendian)
    assert out.dtype == np.uint16 and out.flags.writeable
    np.testing.assert_array_equal(out, labels)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8_labels(encoding):
    labels = np.array([[0, 1, 2], [255, 3, 0]], dtype=np.uint8)
    out = decode_label_mask(labels.tobytes(), 3, 2, encoding)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, labels)


def test_colour_label_mask_is_refused():
    with pytest.raises(ValueError, match="unsupported label-mask encoding 'rgb8'.*mono8"):
        decode_label_mask(bytes(12), 2, 2, "rgb8")


def test_label_mask_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="data has 7 bytes"):
        decode_label_mask(bytes(7), 2, 2, "mono16")
