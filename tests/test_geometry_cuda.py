"""GPU behaviour of the geometry hot path: same results as on CPU, and capturable in a CUDA graph.

Skipped where no CUDA device exists (CI); run on the GPU machine.
"""
import numpy as np
import pytest
import torch

from ros_phmr.geometry.letterbox import Letterbox, letterbox_torch
from ros_phmr.geometry.projection import boxes_from_points, project_points
from ros_phmr.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle, rot6d_to_matrix

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_letterbox_torch_cuda_matches_cpu():
    img = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8))
    for size, mode in ((64, "bicubic"), (224, "bilinear")):
        cpu, box_cpu = letterbox_torch(img, size, mode=mode)
        gpu, box_gpu = letterbox_torch(img.cuda(), size, mode=mode)
        assert box_cpu == box_gpu and gpu.device.type == "cuda"
        # identical up to a uint8 rounding step where float sums land on .5 differently
        assert (gpu.cpu() - cpu).abs().max() <= 1.01 / 255 / 0.224


def _hot_path(six, aa, points, K, image):
    """Everything the per-frame path calls from geometry, on static-shape device tensors."""
    box = Letterbox.fit(image.shape[1], image.shape[0], 64)
    R_rows = rot6d_to_matrix(six, "rows")  # (N, 22, 3, 3)
    R_cols = rot6d_to_matrix(six, "columns")
    R_aa = axis_angle_to_matrix(aa)  # (N, 3, 3)
    back = matrix_to_axis_angle(R_aa)  # (N, 3)
    K_lb = box.intrinsics_to_letterbox(K)  # (3, 3)
    uv = project_points(points, K_lb)  # (N, J, 2)
    boxes = boxes_from_points(uv, points[..., 2] > 0.5)  # (N, 4)
    pixels, _ = letterbox_torch(image, 64)  # (3, 64, 64)
    return R_rows, R_cols, R_aa, back, K_lb, uv, boxes, pixels


def test_hot_path_captures_in_cuda_graph():
    gen = torch.Generator().manual_seed(0)
    inputs = [
        torch.randn(5, 22, 6, generator=gen),
        torch.randn(5, 3, generator=gen) * 2,
        torch.randn(5, 17, 3, generator=gen) + torch.tensor([0.0, 0.0, 3.0]),
        torch.tensor([[300.0, 0.0, 80.0], [0.0, 300.0, 45.0], [0.0, 0.0, 1.0]]),
        torch.randint(0, 256, (90, 160, 3), generator=gen, dtype=torch.uint8),
    ]
    static = [x.cuda() for x in inputs]
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            _hot_path(*static)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outs = _hot_path(*static)
    # new data into the static inputs, replay, compare with eager on the new data
    fresh = [torch.randn_like(static[0]), torch.randn_like(static[1]) * 3, static[2] * 1.1, static[3], static[4].flip(0)]
    for s, f in zip(static, fresh):
        s.copy_(f)
    graph.replay()
    torch.cuda.synchronize()
    expected = _hot_path(*fresh)
    for got, want in zip(outs, expected):
        torch.testing.assert_close(got, want, equal_nan=True)
