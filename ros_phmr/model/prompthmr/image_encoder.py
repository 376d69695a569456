"""Image -> camera-aware image tokens (B, D, h, w) for the decoder.

Layout of PromptHMR's ``image_encoder``: ``backbone.encoder`` (DINOv2, shared implementation in
``ros_phmr.model.backbone``) and ``neck`` (1x1 conv without bias + channel LayerNorm). Then
``cam_encoder``: the 99 camera-ray Fourier features of every token (``ros_phmr.model.camera_rays``)
are concatenated after the image channels and mixed by ``conv`` (1x1, no bias) + ``norm``.
"""
import torch
from torch import nn

from ros_phmr.model.backbone import DinoV2, ViTDims
from ros_phmr.model.camera_rays import RAY_FEATURE_CHANNELS, CameraRayEncoder
from ros_phmr.model.prompthmr.channel_norm import ChannelLayerNorm


class _BackboneHolder(nn.Module):
    """Only gives the backbone its released key prefix ``backbone.encoder.``."""

    def __init__(self, dims: ViTDims):
        super().__init__()
        self.encoder = DinoV2(dims)


class ImageEncoder(nn.Module):
    def __init__(self, backbone_dims: ViTDims, dim: int):
        super().__init__()
        self.backbone = _BackboneHolder(backbone_dims)
        self.neck = nn.Sequential(nn.Conv2d(backbone_dims.embed_dim, dim, kernel_size=1, bias=False), ChannelLayerNorm(dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) ImageNet-normalised -> (B, D, S/14, S/14)."""
        encoder = self.backbone.encoder
        rows, cols = encoder.token_grid(images.shape[-2], images.shape[-1])
        return self.from_tokens(encoder(images), rows, cols)

    def from_tokens(self, tokens: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """Backbone tokens (B, rows*cols, Dv) -> (B, D, rows, cols): the neck alone, for a
        backbone that already ran (one shared by the detector)."""
        grid = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, rows, cols)  # (B, Dv, rows, cols)
        return self.neck(grid)


class CameraConditioning(nn.Module):
    def __init__(self, dim: int, patch_size: int = 14):
        super().__init__()
        self.rays = CameraRayEncoder(patch_size=patch_size)
        self.conv = nn.Conv2d(dim + RAY_FEATURE_CHANNELS, dim, kernel_size=1, bias=False)
        self.norm = ChannelLayerNorm(dim)

    def forward(self, image_embeddings: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """image_embeddings (B, D, h, w), K (B, 3, 3) of the model input -> (B, D, h, w)."""
        batch, _, rows, cols = image_embeddings.shape
        rays = self.rays(K, rows, cols, device=image_embeddings.device, dtype=image_embeddings.dtype)  # (B, h*w, 99)
        rays = rays.transpose(1, 2).reshape(batch, RAY_FEATURE_CHANNELS, rows, cols)
        return self.norm(self.conv(torch.cat([image_embeddings, rays], dim=1)))
