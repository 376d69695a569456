"""Non-overlapping patch projection: a strided convolution whose output grid is read row-major."""
import torch
from torch import nn


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_channels: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.proj(images)  # (B, D, H/p, W/p)
        return x.flatten(2).transpose(1, 2)  # (B, H/p * W/p, D), token n = row * (W/p) + col
