"""Default intrinsics (upstream numbers), validation and CameraInfo scaling."""
import math

import numpy as np
import pytest

from ros_phmr.geometry.camera import (
    default_intrinsics,
    intrinsics_from_camera_info,
    scale_intrinsics,
    validate_intrinsics,
)
from ros_phmr.geometry.letterbox import Letterbox


def test_diagonal_default_is_prompthmr():
    K = default_intrinsics(640, 480)
    assert K.dtype == np.float64 and K.shape == (3, 3)
    np.testing.assert_allclose(K, [[800.0, 0, 320], [0, 800, 240], [0, 0, 1]])


def test_fov_default_reproduces_multihmr_model_frame_focal():
    # Multi-HMR documents fx = 775.96 at S = 896 and 581.97 at S = 672 for its 60 deg default.
    for size, expected in ((896, 775.96), (672, 581.97)):
        for w, h in ((1920, 1080), (720, 1280), (500, 500)):
            K896 = Letterbox.fit(w, h, size).intrinsics_to_letterbox(default_intrinsics(w, h, mode="fov"))
            assert K896[0, 0] == pytest.approx(expected, abs=0.01)
            assert K896[0, 2] == pytest.approx(size / 2, abs=0.5)
            assert K896[1, 2] == pytest.approx(size / 2, abs=0.5)
    K = default_intrinsics(1000, 400, mode="fov", fov_deg=90.0)
    assert K[0, 0] == pytest.approx(500.0)  # fov spans the longer side


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(width=0, height=10), "zero-size"),
        (dict(width=10, height=10, mode="pinhole"), "mode"),
        (dict(width=10, height=10, mode="fov", fov_deg=180.0), "fov_deg"),
        (dict(width=10.5, height=10), "integer"),
    ],
)
def test_default_intrinsics_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        default_intrinsics(**kwargs)


def test_validate_accepts_good_and_off_centre_principal_point():
    K = [[500.0, 0, 700], [0, 510, -100], [0, 0, 1]]  # off the 640x480 image, within half an image
    out = validate_intrinsics(K, 640, 480)
    assert out.dtype == np.float64 and out.shape == (3, 3)


@pytest.mark.parametrize(
    "K,match",
    [
        (np.eye(4), "shape"),
        ([[np.nan, 0, 1], [0, 1, 1], [0, 0, 1]], "NaN"),
        ([[np.inf, 0, 1], [0, 1, 1], [0, 0, 1]], "NaN or inf"),
        ([[0.0, 0, 320], [0, 500, 240], [0, 0, 1]], "positive"),
        ([[500.0, 0, 320], [0, -5, 240], [0, 0, 1]], "positive"),
        (np.zeros((3, 3)), "uncalibrated"),
        ([[500.0, 0, 320], [0, 500, 240], [0, 0, 2]], "bottom row"),
        ([[500.0, 0, 1300], [0, 500, 240], [0, 0, 1]], "principal point"),
        ([["a", 0, 1], [0, 1, 1], [0, 0, 1]], "numeric"),
    ],
)
def test_validate_rejects(K, match):
    with pytest.raises(ValueError, match=match):
        validate_intrinsics(K, 640, 480)


def test_camera_info_same_size_and_unset_size():
    k = [600.0, 0, 321, 0, 602, 239, 0, 0, 1]
    np.testing.assert_array_equal(intrinsics_from_camera_info(k, 640, 480), np.reshape(k, (3, 3)))
    np.testing.assert_array_equal(intrinsics_from_camera_info(k, 640, 480, 640, 480), np.reshape(k, (3, 3)))
    np.testing.assert_array_equal(intrinsics_from_camera_info(k, 0, 0, 640, 480), np.reshape(k, (3, 3)))


def test_camera_info_scaled_to_smaller_image():
    k = [1000.0, 0, 639.5, 0, 1000, 359.5, 0, 0, 1]  # exactly centred in 1280x720
    K = intrinsics_from_camera_info(k, 1280, 720, 640, 360)
    np.testing.assert_allclose(K, [[500, 0, 319.5], [0, 500, 179.5], [0, 0, 1]])
    # a point's pixel in the 2x smaller image is where 2x2 pixel blocks average to: (u + 0.5)/2 - 0.5
    X = np.array([0.3, -0.2, 2.0])
    uv_big = (np.reshape(k, (3, 3)) @ (X / X[2]))[:2]
    uv_small = (K @ (X / X[2]))[:2]
    np.testing.assert_allclose(uv_small, (uv_big + 0.5) / 2 - 0.5)
    # and back up again
    np.testing.assert_allclose(scale_intrinsics(K, (640, 360), (1280, 720)), np.reshape(k, (3, 3)), atol=1e-12)


def test_camera_info_rounding_tolerated_aspect_change_rejected():
    k = [1000.0, 0, 960, 0, 1000, 540, 0, 0, 1]
    K = intrinsics_from_camera_info(k, 1920, 1080, 641, 360)  # 1080 * 641/1920 = 360.6: rounding
    assert K[0, 0] == pytest.approx(1000 * 641 / 1920)
    with pytest.raises(ValueError, match="aspect"):
        intrinsics_from_camera_info(k, 1920, 1080, 640, 480)
    with pytest.raises(ValueError, match="9 numbers"):
        intrinsics_from_camera_info(k[:8], 1920, 1080)
    with pytest.raises(ValueError, match="both"):
        intrinsics_from_camera_info(k, 1920, 1080, image_width=640)
    with pytest.raises(ValueError, match="uncalibrated"):
        intrinsics_from_camera_info([0.0] * 9, 1920, 1080, 640, 360)
    assert math.isfinite(K.sum())
