"""Camera-ray Fourier features per patch token (Multi-HMR and PromptHMR camera encoders).

Both released models were trained with a transposed ray grid: the token's pixel centre is
stacked as (row pixel, column pixel) and that pair is fed to K^-1 as (u, v). The ray at token
(row, col) is therefore ``K^-1 [row*14 + 7, col*14 + 7, 1]`` - x comes from the ROW. We
reproduce this exactly because the weights expect it; with a centred principal point and
fx == fy it amounts to swapping the x and y ray components.

Features per token: [ray (3), sin(pi * ray_d * f_k) (3*16), cos(pi * ray_d * f_k) (3*16)]
with f_k = linspace(1, 32, 16), dim-major ordering (x f0..f15, y f0..f15, z f0..f15): 99 channels.
"""
import math
from collections import OrderedDict
from typing import Optional, Tuple

import torch
from torch import nn

RAY_FEATURE_CHANNELS = 99


def _cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a x b over the last dim, written out so that it exports to ONNX."""
    return torch.stack([
        a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
        a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
        a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
    ], dim=-1)


def invert_intrinsics(K: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of (..., 3, 3) matrices (adjugate / determinant).

    Unlike torch.linalg.inv it exports to ONNX and never syncs with the host for an error check.
    """
    r0, r1, r2 = K[..., 0, :], K[..., 1, :], K[..., 2, :]
    c0, c1, c2 = _cross(r1, r2), _cross(r2, r0), _cross(r0, r1)
    det = (r0 * c0).sum(dim=-1)[..., None, None]
    return torch.stack([c0, c1, c2], dim=-1) / det


def token_rays(K: torch.Tensor, rows: int, cols: int, patch_size: int = 14) -> torch.Tensor:
    """Rays at token centres with the released models' transposed grid.

    K (B, 3, 3) intrinsics of the model-input frame -> (B, rows*cols, 3) rays with z = 1,
    tokens in row-major order (n = row * cols + col).
    """
    if K.dim() != 3 or K.shape[-2:] != (3, 3):
        raise ValueError(f"expected intrinsics of shape (B, 3, 3), got {tuple(K.shape)}")
    device = K.device
    row_px = torch.arange(rows, device=device, dtype=torch.float32) * patch_size + patch_size // 2  # (rows,)
    col_px = torch.arange(cols, device=device, dtype=torch.float32) * patch_size + patch_size // 2  # (cols,)
    first = row_px[:, None].expand(rows, cols)  # used as u although it is the row: the trained quirk
    second = col_px[None, :].expand(rows, cols)
    points = torch.stack([first, second, torch.ones_like(first)], dim=-1).reshape(-1, 3)  # (N, 3)
    K_inv = invert_intrinsics(K.float())  # (B, 3, 3)
    return torch.einsum("bij,nj->bni", K_inv, points)  # (B, N, 3)


def fourier_features(positions: torch.Tensor, num_bands: int = 16, max_resolution: int = 64) -> torch.Tensor:
    """positions (..., n) -> (..., n + 2*n*num_bands): [pos, sin(pi pos f), cos(pi pos f)], dim-major."""
    freqs = torch.linspace(1.0, max_resolution / 2, num_bands, device=positions.device, dtype=positions.dtype)
    scaled = (positions[..., :, None] * freqs).flatten(-2)  # (..., n * num_bands)
    return torch.cat([positions, torch.sin(math.pi * scaled), torch.cos(math.pi * scaled)], dim=-1)


def _is_tracing() -> bool:
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return torch.jit.is_tracing() or bool(compiling and compiling())


class CameraRayEncoder(nn.Module):
    """99-channel ray features per token; no learned parameters.

    The features depend only on K and the token grid, so they are cached per (grid, K, device,
    dtype) when K lives on the CPU (reading its values costs no device sync). K already on an
    accelerator is encoded directly, which keeps the call capturable in a CUDA graph.
    """

    channels = RAY_FEATURE_CHANNELS

    def __init__(self, patch_size: int = 14, num_bands: int = 16, max_resolution: int = 64, cache_entries: int = 8):
        super().__init__()
        self.patch_size = patch_size
        self.num_bands = num_bands
        self.max_resolution = max_resolution
        self.cache_entries = cache_entries
        self._cache: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()

    def encode(self, K: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """K (B, 3, 3) -> (B, rows*cols, 99) float32 on K's device, computed without caching."""
        rays = token_rays(K, rows, cols, self.patch_size)
        return fourier_features(rays, self.num_bands, self.max_resolution)

    def forward(
        self,
        K: torch.Tensor,
        rows: int,
        cols: int,
        device: Optional[torch.device] = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """K (B, 3, 3) -> (B, rows*cols, 99) on ``device`` (default: K's device).

        A cached result is shared between calls: treat it as read-only.
        """
        device = torch.device(device) if device is not None else K.device
        if K.device.type != "cpu" or _is_tracing():
            return self.encode(K, rows, cols).to(device=device, dtype=dtype)
        key = self._cache_key(K, rows, cols, device, dtype)
        hit = self._cache.get(key)
        if hit is None:
            hit = self.encode(K, rows, cols).to(device=device, dtype=dtype)
            self._cache[key] = hit
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return hit

    @staticmethod
    def _cache_key(K: torch.Tensor, rows: int, cols: int, device: torch.device, dtype: torch.dtype) -> Tuple:
        values = K.detach().to(torch.float64).contiguous().numpy().tobytes()
        return (rows, cols, tuple(K.shape), values, str(device), dtype)
