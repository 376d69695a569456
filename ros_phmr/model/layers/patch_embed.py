"""Non-overlapping patch projection, read row-major: token n = row * (W/p) + col.

The weight keeps the layout of a strided convolution (``proj``: Conv2d(C, D, p, stride p)), as
checkpoints store it, but the forward pass cuts the image into patch rows and runs one matrix
product: with 3 input channels cuDNN has no tensor-core kernel for the convolution (on an H200
it took 0.25 ms of ViT-L/896's 10.8; with the GEMM the backbone stage went to 10.5 ms).
"""
import torch
from torch import nn
from torch.nn import functional as F


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_channels: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, H/p * W/p, D); a remainder of H or W below p is dropped,
        as the strided convolution drops it."""
        batch, channels, height, width = images.shape
        p = self.patch_size
        rows, cols = height // p, width // p
        patches = images[:, :, : rows * p, : cols * p].reshape(batch, channels, rows, p, cols, p)
        # (B, rows * cols, C * p * p), each patch in (channel, y, x) order like the weight's
        patches = patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, rows * cols, channels * p * p)
        return F.linear(patches, self.proj.weight.flatten(1), self.proj.bias)  # (B, N, D)
