"""Letterbox geometry vs the resampled pixels, vs PIL (upstream's resize), and round trips."""
import numpy as np
import pytest
import torch

from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.geometry.letterbox import IMAGENET_MEAN, IMAGENET_STD, Letterbox, letterbox_numpy, letterbox_torch
from ros_phmr.geometry.projection import project_points

# (width, height, size): landscape, portrait, square, upscale, downscale, odd roundings
SIZES = [(160, 90, 64), (90, 160, 64), (100, 100, 64), (30, 20, 64), (20, 33, 96), (333, 101, 97), (64, 48, 64)]

K_ORIG = np.array([[210.0, 0.0, 77.3], [0.0, 205.0, 41.9], [0.0, 0.0, 1.0]])


def _pil():
    """Pillow is upstream's resizer and our reference; skip cleanly where it is not installed."""
    pytest.importorskip("PIL")
    from PIL import Image, ImageOps

    return Image, ImageOps


def _denormalize(x):
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (x * std + mean) * 255.0


@pytest.mark.parametrize("w,h,s", SIZES)
def test_fit_matches_pil_contain_and_pad(w, h, s):
    Image, ImageOps = _pil()
    box = Letterbox.fit(w, h, s)
    padded = np.asarray(ImageOps.pad(Image.new("RGB", (w, h), (255, 255, 255)), (s, s)))[..., 0]
    ys, xs = np.nonzero(padded > 128)
    assert (xs.min(), ys.min()) == (box.pad_x, box.pad_y)
    assert (xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) == (box.new_width, box.new_height)
    assert box.scale == pytest.approx(s / max(w, h))


@pytest.mark.parametrize("w,h,s", SIZES)
def test_projection_round_trip_through_letterbox(w, h, s):
    box = Letterbox.fit(w, h, s)
    K = default_intrinsics(w, h) if w != 160 else K_ORIG
    rng = np.random.default_rng(w * 1000 + h)
    pts = np.column_stack([rng.uniform(-1, 1, 40), rng.uniform(-1, 1, 40), rng.uniform(0.5, 6, 40)])
    uv_orig = project_points(pts, K)
    uv_box = project_points(pts, box.intrinsics_to_letterbox(K))
    np.testing.assert_allclose(box.points_to_original(uv_box), uv_orig, atol=1e-3)
    np.testing.assert_allclose(box.points_to_letterbox(uv_orig), uv_box, atol=1e-3)
    np.testing.assert_allclose(box.intrinsics_to_original(box.intrinsics_to_letterbox(K)), K, atol=1e-9)
    # torch, batched K
    Kt = torch.from_numpy(K).expand(2, 3, 3)
    torch.testing.assert_close(box.intrinsics_to_original(box.intrinsics_to_letterbox(Kt)), Kt)


def test_transforms_map_image_corners_to_content_corners():
    box = Letterbox.fit(30, 20, 64)  # content 64 x 43 at pad_y 10 (upscale)
    # outer pixel edges (-0.5, -0.5) and (W-0.5, H-0.5) land on the content's outer edges
    corners = box.points_to_letterbox(np.array([[-0.5, -0.5], [29.5, 19.5]]))
    np.testing.assert_allclose(corners, [[-0.5, box.pad_y - 0.5], [63.5, box.pad_y + box.new_height - 0.5]])
    boxes = np.array([[-0.5, -0.5, 29.5, 19.5], [3.0, 4.0, 10.0, 12.0]])
    lb = box.boxes_to_letterbox(boxes)
    np.testing.assert_allclose(lb[0], [-0.5, box.pad_y - 0.5, 63.5, box.pad_y + box.new_height - 0.5])
    np.testing.assert_allclose(lb[1, :2], box.points_to_letterbox(boxes[1, :2]))
    np.testing.assert_allclose(box.boxes_to_original(lb), boxes, atol=1e-12)
    torch.testing.assert_close(box.boxes_to_letterbox(torch.from_numpy(boxes)), torch.from_numpy(lb))


def _blob_image(w, h, center, sigma):
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * sigma**2))
    return np.repeat((blob * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def _centroid(gray):
    yy, xx = np.mgrid[0 : gray.shape[0], 0 : gray.shape[1]]
    return np.array([(gray * xx).sum(), (gray * yy).sum()]) / gray.sum()


@pytest.mark.parametrize("w,h,s", [(160, 90, 64), (90, 160, 64), (30, 20, 64), (20, 33, 96), (333, 101, 97)])
def test_image_content_sits_where_points_to_letterbox_says(w, h, s):
    """A bright dot and a smooth blob are found at points_to_letterbox(uv) in both implementations.

    The blob centroid is preserved by area/antialiased resampling, so 0.05 px separates the exact
    half-pixel mapping from upstream's float scale/offset (0.3 to 1 px off for these sizes).
    """
    center = np.array([w * 0.37 + 0.3, h * 0.61 - 0.2])
    sigma = max(w, h) / s * 2.5 if max(w, h) > s else 2.0
    img = _blob_image(w, h, center, sigma)
    dot = np.zeros((h, w, 3), np.uint8)
    dot_uv = np.array([int(w * 0.7), int(h * 0.3)])
    dot[dot_uv[1], dot_uv[0]] = 255

    np_img, box_np = letterbox_numpy(img, s)
    t_img, box_t = letterbox_torch(torch.from_numpy(img), s)
    assert box_np == box_t == Letterbox.fit(w, h, s)
    assert np_img.shape == (s, s, 3) and t_img.shape == (3, s, s) and t_img.dtype == torch.float32
    expected = box_np.points_to_letterbox(center)
    np.testing.assert_allclose(_centroid(np_img[..., 0].astype(float)), expected, atol=0.05)
    np.testing.assert_allclose(_centroid(_denormalize(t_img)[0].numpy()), expected, atol=0.05)

    expected_dot = box_np.points_to_letterbox(dot_uv.astype(float))
    np_dot, _ = letterbox_numpy(dot, s)
    t_dot, _ = letterbox_torch(torch.from_numpy(dot), s, normalize=False)
    for gray in (np_dot[..., 0].astype(float), t_dot[0].numpy()):
        iy, ix = np.unravel_index(np.argmax(gray), gray.shape)
        assert np.abs(np.array([ix, iy]) - expected_dot).max() <= 1.0


def test_torch_matches_pil_bicubic_upstream_image():
    """Upstream feeds PIL contain(BICUBIC)+pad; the antialiased torch resize reproduces it."""
    Image, ImageOps = _pil()
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (12, 18, 3), dtype=np.uint8)
    img = np.array(Image.fromarray(small).resize((150, 100), Image.BILINEAR))  # smooth content
    for s in (64, 224):  # down and up
        ref = np.asarray(ImageOps.pad(Image.fromarray(img), (s, s))).astype(np.float32)
        got = _denormalize(letterbox_torch(torch.from_numpy(img), s)[0]).permute(1, 2, 0).numpy()
        assert np.abs(got - ref).mean() < 0.25  # rounding only
        assert np.abs(got - ref).max() <= 1.5
        np_img, _ = letterbox_numpy(img, s)
        assert np.abs(np_img.astype(np.float32) - ref).mean() < 2.0


def test_torch_normalisation_and_padding_value():
    img = torch.full((20, 40, 3), 255, dtype=torch.uint8)
    out, box = letterbox_torch(img, 32)
    assert (box.pad_x, box.pad_y, box.new_height) == (0, 8, 16)
    pad_value = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    white_value = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    torch.testing.assert_close(out[:, 0, 0], pad_value)
    torch.testing.assert_close(out[:, 31, 31], pad_value)
    torch.testing.assert_close(out[:, 16, 16], white_value)
    raw, _ = letterbox_torch(img, 32, normalize=False)
    assert raw.min() == 0.0 and raw.max() == 1.0
    same, _ = letterbox_torch(torch.zeros(32, 32, 3, dtype=torch.uint8), 32, mode="bilinear")
    torch.testing.assert_close(same, pad_value[:, None, None].expand(3, 32, 32))


@pytest.mark.parametrize(
    "img,match",
    [
        (np.zeros((0, 10, 3), np.uint8), "zero-size"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((10, 10, 3), np.uint16), "uint8"),
        (np.zeros((10, 10), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((2, 10, 10, 3), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((10, 10, 4), np.uint8), r"\(H, W, 3\)"),
    ],
)
def test_bad_images_raise(img, match):
    with pytest.raises(ValueError, match=match):
        letterbox_numpy(img, 32)
    with pytest.raises(ValueError, match=match):
        letterbox_torch(torch.from_numpy(img), 32)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="letterbox size"):
        Letterbox.fit(10, 10, 0)
    with pytest.raises(ValueError, match="image width"):
        Letterbox.fit(0, 10, 32)
    with pytest.raises(ValueError, match="mode"):
        letterbox_torch(torch.zeros(4, 4, 3, dtype=torch.uint8), 8, mode="nearest")
    with pytest.raises(ValueError, match="numpy"):
        letterbox_numpy(torch.zeros(4, 4, 3, dtype=torch.uint8), 8)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        Letterbox.fit(10, 10, 8).intrinsics_to_letterbox(np.eye(2))
