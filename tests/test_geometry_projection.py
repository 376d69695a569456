"""Projection and boxes, checked against OpenCV's projectPoints and hand-computed values."""
import cv2
import numpy as np
import pytest
import torch

from ros_phmr.geometry.projection import (boxes_between_intrinsics, boxes_from_points, clip_boxes, project_points,
                                         validate_boxes)

K = np.array([[500.0, 0.0, 320.0], [0.0, 480.0, 240.0], [0.0, 0.0, 1.0]])


def test_project_points_matches_opencv():
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50), rng.uniform(1, 5, 50)])
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K, None)
    np.testing.assert_allclose(project_points(pts, K), ref[:, 0, :], atol=1e-9)
    out = project_points(torch.from_numpy(pts).float(), torch.from_numpy(K).float())
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref[:, 0, :], atol=1e-3)


def test_project_points_batched_k_and_broadcast():
    pts = torch.tensor([[[0.0, 0.0, 2.0], [1.0, 1.0, 2.0]]]).expand(3, 2, 3)  # (3, 2, 3)
    Ks = torch.from_numpy(K).float().expand(3, 3, 3).clone()
    Ks[1, 0, 0] = 1000.0
    uv = project_points(pts, Ks)  # (3, 2, 2)
    assert uv.shape == (3, 2, 2)
    torch.testing.assert_close(uv[0, 1], torch.tensor([570.0, 480.0]))
    torch.testing.assert_close(uv[1, 1], torch.tensor([820.0, 480.0]))
    torch.testing.assert_close(project_points(pts, torch.from_numpy(K).float()), uv[[0, 0, 0]])


def test_project_points_clamps_depth():
    uv = project_points(torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, -1.0]]), torch.from_numpy(K).float(), min_depth=0.01)
    assert torch.isfinite(uv).all()
    torch.testing.assert_close(uv[:, 0], torch.tensor([320.0 + 500.0 / 0.01] * 2))
    with pytest.raises(ValueError, match="N, 3"):
        project_points(torch.zeros(4, 2), K)


def test_boxes_from_points_with_mask():
    uv = torch.tensor([[[1.0, 5.0], [3.0, 2.0], [100.0, 100.0]], [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]])
    torch.testing.assert_close(boxes_from_points(uv)[0], torch.tensor([1.0, 2.0, 100.0, 100.0]))
    valid = torch.tensor([[True, True, False], [False, False, False]])
    boxes = boxes_from_points(uv, valid)
    torch.testing.assert_close(boxes[0], torch.tensor([1.0, 2.0, 3.0, 5.0]))
    assert torch.isnan(boxes[1]).all()
    np.testing.assert_allclose(boxes_from_points(uv.numpy())[1], [0, 0, 2, 2])
    with pytest.raises(ValueError, match="bool mask"):
        boxes_from_points(uv, valid[:, :2])


def test_clip_and_validate_boxes():
    boxes = [[-10, 5, 50, 500], [10, 10, 20, 20]]
    np.testing.assert_allclose(validate_boxes(boxes, 640, 480), [[0, 5, 50, 480], [10, 10, 20, 20]])
    torch.testing.assert_close(
        clip_boxes(torch.tensor([[-1.0, -2.0, 700.0, 20.0]]), 640, 480), torch.tensor([[0.0, 0.0, 640.0, 20.0]])
    )
    assert validate_boxes(np.zeros((0, 4)), 640, 480).shape == (0, 4)


@pytest.mark.parametrize(
    "bad,match",
    [
        ([[10, 10, 5, 20]], "box 1 is empty or inverted"),
        ([[10, 10, 20, 10]], "box 1 is empty or inverted"),
        ([[np.nan, 10, 20, 30]], "box 1 contains NaN"),
        ([[700, 10, 720, 30]], "box 1 lies entirely outside"),
        ([[-50, 10, -1, 30]], "box 1 lies entirely outside"),
    ],
)
def test_validate_boxes_names_the_bad_box(bad, match):
    with pytest.raises(ValueError, match=match):
        validate_boxes([[0, 0, 10, 10]] + bad, 640, 480)


def test_validate_boxes_shape():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        validate_boxes([[0, 0, 10]], 640, 480)


@pytest.mark.parametrize("width,height", [(640, 480), (300, 500)])
def test_boxes_between_intrinsics_undo_a_letterbox(width, height):
    """Boxes in a letterboxed input, mapped back with the two cameras' K only, equal what the
    Letterbox's own inverse gives."""
    from ros_phmr.geometry.letterbox import Letterbox

    lb = Letterbox.fit(width, height, 448)
    K_in = lb.intrinsics_to_letterbox(K)
    boxes = np.array([[10.0, 20.0, 200.0, 400.0], [300.0, 5.0, 440.0, 100.0]])
    got = boxes_between_intrinsics(torch.tensor(boxes), torch.tensor(K_in), torch.tensor(K))
    np.testing.assert_allclose(got.numpy(), lb.boxes_to_original(boxes), atol=1e-9)
