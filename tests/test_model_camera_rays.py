"""Camera-ray Fourier features: parity with both upstream codes and the transposed-grid quirk."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_phmr.model.camera_rays import CameraRayEncoder, fourier_features, token_rays

GOLDEN = Path(__file__).parent / "data" / "golden" / "multihmr"


@pytest.mark.parametrize("case", ["centred_448", "offcentre_448", "skew_224"])
def test_features_match_upstream(case):
    """Golden: naver/multi-hmr Model.embedd_camera (PromptHMR's CameraEncoder gave identical rays)."""
    golden = np.load(GOLDEN / "camera_rays.npz")
    K = torch.from_numpy(golden[f"K_{case}"])[None]
    grid = int(case.split("_")[1]) // 14
    features = CameraRayEncoder().encode(K, grid, grid)  # (1, N, 99)
    expected = golden[f"features_{case}"].reshape(1, grid * grid, 99)
    np.testing.assert_allclose(features.numpy(), expected, atol=2e-5, rtol=0)


def test_ray_x_comes_from_the_row():
    """The trained quirk: x of the ray grows down the rows, y across the columns."""
    K = torch.tensor([[[100.0, 0.0, 50.0], [0.0, 200.0, 60.0], [0.0, 0.0, 1.0]]])
    rays = token_rays(K, rows=3, cols=4).reshape(3, 4, 3)
    row, col = 2, 1
    expected = torch.tensor([(row * 14 + 7 - 50.0) / 100.0, (col * 14 + 7 - 60.0) / 200.0, 1.0])
    torch.testing.assert_close(rays[row, col], expected)


def test_fourier_layout_is_dim_major():
    pos = torch.tensor([[0.25, -0.5, 1.0]])
    feats = fourier_features(pos)
    assert feats.shape == (1, 99)
    freqs = torch.linspace(1, 32, 16)
    torch.testing.assert_close(feats[0, :3], pos[0])
    torch.testing.assert_close(feats[0, 3 + 16:3 + 32], torch.sin(math.pi * -0.5 * freqs))  # y band block
    torch.testing.assert_close(feats[0, 51 + 32:99], torch.cos(math.pi * 1.0 * freqs))  # z cos block


def test_cache_per_grid_and_intrinsics():
    encoder = CameraRayEncoder()
    K = torch.tensor([[[300.0, 0.0, 112.0], [0.0, 300.0, 112.0], [0.0, 0.0, 1.0]]])
    first = encoder(K, 16, 16)
    assert encoder(K.clone(), 16, 16) is first
    other_K = K.clone()
    other_K[0, 0, 0] = 310.0
    assert encoder(other_K, 16, 16) is not first
    assert encoder(K, 8, 8).shape == (1, 64, 99)
    torch.testing.assert_close(first, encoder.encode(K, 16, 16))


def test_bad_intrinsics_shape():
    with pytest.raises(ValueError, match=r"\(B, 3, 3\)"):
        token_rays(torch.eye(3), 4, 4)
