"""Rasteriser and renderer checked against geometry computed independently in the tests
(pixel-centre counts of axis-aligned rectangles, triangle areas, ray-plane depths)."""
import math

import numpy as np
import pytest

import ros_phmr.render.rasterizer as rasterizer_module
from ros_phmr.render import overlay_meshes, rasterize, render_meshes

W, H = 160, 120
K = np.array([[100.0, 0.0, 80.0], [0.0, 100.0, 60.0], [0.0, 0.0, 1.0]])


def quad(x0, y0, x1, y1, z):
    """Rectangle facing the camera at depth z (two triangles)."""
    v = np.array([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=np.float64)
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def centres_inside(lo, hi):
    """Number of integer pixel centres c with lo <= c <= hi (pixel convention: centre at integer)."""
    return max(0, math.floor(hi) - math.ceil(lo) + 1)


def test_rectangle_covers_exactly_the_pixel_centres_inside_it():
    # Projects to u in [80 + 100*(-0.31)/2, 80 + 100*0.43/2] = [64.5, 101.5], v in [60 - 100*0.2/2, 60 + 0.37*50].
    v, f = quad(-0.31, -0.2, 0.43, 0.37, 2.0)
    frags = rasterize([(v, f)], K, W, H)
    u_lo, u_hi = 80 + 100 * -0.31 / 2, 80 + 100 * 0.43 / 2
    v_lo, v_hi = 60 + 100 * -0.2 / 2, 60 + 100 * 0.37 / 2
    expected = centres_inside(u_lo, u_hi) * centres_inside(v_lo, v_hi)
    assert frags.covered.sum() == expected
    ys, xs = np.nonzero(frags.covered)
    assert xs.min() == math.ceil(u_lo) and xs.max() == math.floor(u_hi)
    assert ys.min() == math.ceil(v_lo) and ys.max() == math.floor(v_hi)
    assert np.allclose(frags.depth[frags.covered], 2.0)
    assert np.isinf(frags.depth[~frags.covered]).all()
    assert set(np.unique(frags.mesh_id)) == {-1, 0}


def test_triangle_pixel_count_matches_analytic_area():
    tri = np.array([[-0.5, -0.4, 3.0], [0.6, -0.1, 3.0], [-0.2, 0.5, 3.0]])
    uv = tri[:, :2] / tri[:, 2:] * 100.0 + [80.0, 60.0]
    area = 0.5 * abs((uv[1, 0] - uv[0, 0]) * (uv[2, 1] - uv[0, 1]) - (uv[2, 0] - uv[0, 0]) * (uv[1, 1] - uv[0, 1]))
    perimeter = sum(np.linalg.norm(uv[i] - uv[(i + 1) % 3]) for i in range(3))
    frags = rasterize([(tri, np.array([[0, 1, 2]]))], K, W, H)
    count = frags.covered.sum()
    assert abs(count - area) < 0.5 * perimeter, (count, area)
    # The reversed winding covers the same pixels (no culling).
    frags_rev = rasterize([(tri, np.array([[0, 2, 1]]))], K, W, H)
    assert np.array_equal(frags.covered, frags_rev.covered)


def test_depth_is_perspective_correct_on_a_tilted_plane():
    # Plane z = 2 + 0.8 x, spanning x in [-0.6, 0.6]: depth per pixel from the ray-plane intersection.
    xs = np.array([-0.6, 0.6])
    ys = np.array([-0.4, 0.4])
    corners = np.array([[x, y, 2.0 + 0.8 * x] for x in xs for y in ys])
    faces = np.array([[0, 2, 3], [0, 3, 1]])
    frags = rasterize([(corners, faces)], K, W, H)
    rows, cols = np.nonzero(frags.covered)
    rx = (cols - 80.0) / 100.0           # ray direction x/z per pixel
    expected = 2.0 / (1.0 - 0.8 * rx)   # z = 2 + 0.8 * rx * z
    assert np.allclose(frags.depth[rows, cols], expected, rtol=1e-5)
    bary = frags.bary[rows, cols]
    assert np.allclose(bary.sum(axis=1), 1.0, atol=1e-5)
    assert (bary >= -1e-6).all()


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_nearer_mesh_wins_regardless_of_order(order):
    near = quad(-0.3, -0.3, 0.1, 0.1, 2.0)
    far = quad(-0.2, -0.2, 0.8, 0.8, 4.0)
    meshes = [near, far] if order == (0, 1) else [far, near]
    near_id = 0 if order == (0, 1) else 1
    frags = rasterize(meshes, K, W, H)
    # A pixel covered by both: the ray through (80, 60) hits both rectangles.
    assert frags.mesh_id[60, 80] == near_id
    assert frags.depth[60, 80] == pytest.approx(2.0)
    # A pixel only the far one covers: ray (u=95, v=75) -> x/z = 0.15, y/z = 0.15.
    assert frags.mesh_id[75, 95] == 1 - near_id
    assert frags.depth[75, 95] == pytest.approx(4.0)
    alone_near = rasterize([near], K, W, H).covered.sum()
    assert (frags.mesh_id == near_id).sum() == alone_near


def test_chunked_rasterisation_equals_single_pass(monkeypatch):
    meshes = [quad(-0.3, -0.3, 0.1, 0.1, 2.0), quad(-0.1, -0.1, 0.4, 0.4, 4.0)]
    full = rasterize(meshes, K, W, H)
    monkeypatch.setattr(rasterizer_module, "_CHUNK_CANDIDATES", 50)
    chunked = rasterize(meshes, K, W, H)
    assert np.array_equal(full.mesh_id, chunked.mesh_id)
    assert np.array_equal(full.face_id, chunked.face_id)
    assert np.allclose(full.depth, chunked.depth)


def test_geometry_behind_or_off_image_is_ignored():
    behind = quad(-0.3, -0.3, 0.3, 0.3, -2.0)
    off_image = quad(5.0, 5.0, 6.0, 6.0, 2.0)
    frags = rasterize([behind, off_image], K, W, H)
    assert not frags.covered.any()
    empty = rasterize([], K, W, H)
    assert not empty.covered.any()


def test_render_colours_masks_and_shading():
    facing = quad(-0.5, -0.3, -0.05, 0.3, 2.0)
    # Same size but turned 70 deg about the vertical axis: receives light at a grazing angle.
    v, f = quad(0.05, -0.3, 0.5, 0.3, 2.0)
    c, s = math.cos(math.radians(70)), math.sin(math.radians(70))
    centre = v.mean(axis=0)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    turned = ((v - centre) @ rot.T + centre, f)
    colors = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    result = render_meshes([facing, turned], K, W, H, colors=colors, background=(0, 0, 255),
                           light_dir=np.array([0.0, 0.0, 1.0]))
    masks = result.masks(2)
    assert masks.shape == (2, H, W) and masks[0].any() and masks[1].any()
    assert not (masks[0] & masks[1]).any()
    bg = ~(masks[0] | masks[1])
    assert (result.image[bg] == [0, 0, 255]).all()
    assert (result.image[masks[0]][:, 1:] == 0).all()           # pure red stays red
    assert result.image[masks[0], 0].mean() > result.image[masks[1], 0].mean() + 20


def test_overlay_blends_with_alpha():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mesh = quad(-0.3, -0.3, 0.3, 0.3, 2.0)
    same = overlay_meshes(image, [mesh], K, alpha=0.0)
    assert np.array_equal(same, image)
    full = overlay_meshes(image, [mesh], K, alpha=1.0, colors=np.array([[0.0, 1.0, 0.0]]))
    rendered = render_meshes([mesh], K, W, H, colors=np.array([[0.0, 1.0, 0.0]]))
    covered = rendered.mesh_id >= 0
    assert np.abs(full[covered].astype(int) - rendered.image[covered].astype(int)).max() <= 1
    assert np.array_equal(full[~covered], image[~covered])
    half = overlay_meshes(image, [mesh], K, alpha=0.5, colors=np.array([[0.0, 1.0, 0.0]]))
    expected = 0.5 * image[covered].astype(float) + 0.5 * rendered.image[covered].astype(float)
    assert np.abs(half[covered] - expected).max() <= 1.0


@pytest.mark.parametrize("bad_K", [np.eye(2), np.array([[0.0, 0, 1], [0, 1, 1], [0, 0, 1]]),
                                   np.full((3, 3), np.nan)])
def test_bad_intrinsics_are_rejected(bad_K):
    with pytest.raises(ValueError, match="K"):
        rasterize([quad(-0.1, -0.1, 0.1, 0.1, 2.0)], bad_K, W, H)


def test_bad_meshes_and_sizes_are_rejected():
    v, f = quad(-0.1, -0.1, 0.1, 0.1, 2.0)
    with pytest.raises(ValueError, match="out of range"):
        rasterize([(v, f + 10)], K, W, H)
    with pytest.raises(ValueError, match="vertices"):
        rasterize([(v[:, :2], f)], K, W, H)
    with pytest.raises(ValueError, match="NaN"):
        rasterize([(v * np.nan, f)], K, W, H)
    with pytest.raises(ValueError, match="size"):
        rasterize([(v, f)], K, 0, H)
    with pytest.raises(ValueError, match="colors"):
        render_meshes([(v, f)], K, W, H, colors=np.ones((2, 3)))
    with pytest.raises(ValueError, match="alpha"):
        overlay_meshes(np.zeros((H, W, 3), np.uint8), [(v, f)], K, alpha=1.5)
