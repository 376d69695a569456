"""A fused model: one DINOv2-layout backbone shared by the Multi-HMR detector and the PromptHMR
decoder, built at any size, trainable, and saved as one compact checkpoint.

Why: the pipeline runs the backbone once per frame when the detector's and the decoder's
backbones are identical (``Pipeline._tie_backbones``); a model trained under both heads at once
gets that for free. The compact file stores the backbone under both components' released key
prefixes, so the ordinary loaders (``MultiHMR.from_checkpoint``, ``PromptHMR.from_checkpoint``)
read it unchanged.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Union

import torch
from torch import nn

from ros_phmr.model.backbone import ViTDims
from ros_phmr.model.compact import read_compact, write_compact
from ros_phmr.model.multihmr.config import MultiHMRConfig
from ros_phmr.model.multihmr.model import MultiHMRNet, initialise_box_head_
from ros_phmr.model.multihmr.random_checkpoint import multihmr_args, set_upright_initial_body_
from ros_phmr.model.prompthmr.dims import PromptHMRDims
from ros_phmr.model.prompthmr.network import PromptHMRNet

FUSED_ARCH_NAME = "ros_phmr_fused"
INIT_LOG_DEPTH = math.log(4.5)   # log-depth prior of the detector head at the reference focal


@dataclass(frozen=True)
class FusedConfig:
    """Sizes of a fused model. Defaults: the shipped demo model (ViT-tiny-class, 448 px)."""

    image_size: int = 448
    embed_dim: int = 192
    depth: int = 5
    hph_dim: int = 192
    hph_depth: int = 2
    hph_heads: int = 4
    hph_dim_head: int = 32
    hph_mlp_dim: int = 384
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_mlp_dim: int = 256
    decoder_attention_dim: int = 128
    head_depth: int = 2
    head_hidden: int = 128
    box_head: bool = True  # the detector regresses boxes (its meshes are too rough to box people)
    # The detector's offset votes tell neighbouring people apart (MultiHMRConfig.duplicate_radius).
    duplicate_radius: float = 0.5    # patches
    duplicate_min_score: float = 0.6

    @property
    def backbone(self) -> ViTDims:
        return ViTDims(self.embed_dim, self.depth, self.embed_dim // 64)

    def multihmr(self) -> MultiHMRConfig:
        return MultiHMRConfig(image_size=self.image_size, backbone=self.backbone, hph_dim=self.hph_dim,
                              hph_depth=self.hph_depth, hph_heads=self.hph_heads,
                              hph_dim_head=self.hph_dim_head, hph_mlp_dim=self.hph_mlp_dim,
                              box_head=self.box_head, duplicate_radius=self.duplicate_radius,
                              duplicate_min_score=self.duplicate_min_score)

    def prompthmr(self) -> PromptHMRDims:
        return PromptHMRDims(backbone=self.backbone, dim=self.decoder_dim, decoder_depth=self.decoder_depth,
                             mlp_dim=self.decoder_mlp_dim, attention_dim=self.decoder_attention_dim,
                             head_depth=self.head_depth, head_hidden=self.head_hidden, inverse_depth=True,
                             mask_prompt=True, keypoint_prompt=False, text=None)

    @classmethod
    def tiny(cls) -> "FusedConfig":
        """For CPU tests: 112 px, a 2-block 64-wide backbone, small heads."""
        return cls(image_size=112, embed_dim=64, depth=2, hph_dim=64, hph_heads=2, hph_dim_head=16,
                   hph_mlp_dim=64, decoder_dim=32, decoder_mlp_dim=32, decoder_attention_dim=32,
                   head_hidden=32)


class FusedModel(nn.Module):
    """``detector`` (MultiHMRNet) and ``decoder`` (PromptHMRNet) holding one backbone module."""

    def __init__(self, detector: MultiHMRNet, decoder: PromptHMRNet):
        super().__init__()
        self.detector = detector
        self.decoder = decoder
        decoder.image_encoder.backbone.encoder = detector.backbone.encoder   # tie: one module

    @property
    def backbone(self) -> nn.Module:
        return self.detector.backbone.encoder

    @property
    def image_size(self) -> int:
        return self.detector.config.image_size

    @classmethod
    def build(cls, config: FusedConfig = FusedConfig(), seed: int = 0) -> "FusedModel":
        """Freshly initialised for training from scratch (deterministic for a seed)."""
        if config.embed_dim % 64:
            raise ValueError(f"embed_dim must be a multiple of 64 (DINOv2 heads are 64 wide), got {config.embed_dim}")
        torch.manual_seed(seed)
        detector = MultiHMRNet(config.multihmr())
        decoder = PromptHMRNet(config.prompthmr(), image_encoder=True)
        model = cls(detector, decoder)
        model.config = config
        _initialise(model)
        return model

    def components(self) -> dict:
        """``{"multihmr": {...}, "prompthmr": {...}}`` for :func:`write_compact`."""
        det_args = vars(multihmr_args(self.detector.config, FUSED_ARCH_NAME))
        config = getattr(self, "config", None)
        extra = {"fused": True, "fused_config": asdict(config) if config else None}
        return {
            "multihmr": {"state_dict": self.detector.state_dict(), "args": {**det_args, **extra}},
            "prompthmr": {"state_dict": self.decoder.state_dict(), "args": extra},
        }

    def save_compact(self, path: Union[str, Path], half: bool = True) -> Path:
        return write_compact(path, self.components(), half=half)

    @classmethod
    def from_compact(cls, path: Union[str, Path]) -> "FusedModel":
        """Load a fused compact file; ValueError if its two backbones differ."""
        parts = read_compact(path)
        missing = {"multihmr", "prompthmr"} - set(parts)
        if missing:
            raise ValueError(f"{path} is not a fused checkpoint: no {', '.join(sorted(missing))} component")
        detector = MultiHMRNet.from_state_dict(parts["multihmr"]["state_dict"], parts["multihmr"]["args"], what=str(path))
        dec_state = parts["prompthmr"]["state_dict"]
        decoder = PromptHMRNet(PromptHMRDims.from_state_dict(dec_state))
        decoder.load_state_dict(dec_state, strict=True)
        prefix = "image_encoder.backbone.encoder."
        for key, value in detector.backbone.encoder.state_dict().items():
            if not torch.equal(value, dec_state[prefix + key]):
                raise ValueError(f"{path}: detector and decoder backbones differ at {key}; not a fused model")
        model = cls(detector, decoder)
        saved = parts["multihmr"]["args"].get("fused_config")
        if saved:
            model.config = FusedConfig(**{**saved, "box_head": detector.config.box_head,
                                          "duplicate_radius": detector.config.duplicate_radius,
                                          "duplicate_min_score": detector.config.duplicate_min_score})
        return model.train(False)


def _initialise(model: FusedModel) -> None:
    """Sensible from-scratch values: small token/position embeddings, released-style query tables,
    gentle LayerScale, output heads scaled down around upright / ~4.5 m initial values."""
    backbone = model.backbone
    head = model.detector.x_attention_head
    with torch.no_grad():
        nn.init.trunc_normal_(backbone.pos_embed, std=0.02)
        nn.init.trunc_normal_(backbone.cls_token, std=0.02)
        for block in backbone.blocks:
            block.ls1.gamma.fill_(0.1)
            block.ls2.gamma.fill_(0.1)
        for table in (head.cross_queries_x, head.cross_queries_y, head.cross_values_x, head.cross_values_y):
            table.normal_(0.0, 0.2)
        head.transformer.pos_embedding.normal_(0.0, 0.02)
        for layer in (head.decpose, head.decshape, head.deccam, head.decexpression, model.detector.mlp_offset[2]):
            layer.weight.mul_(0.1)
            layer.bias.zero_()
        set_upright_initial_body_(head, INIT_LOG_DEPTH)
        if head.decbox is not None:
            initialise_box_head_(head.decbox)
        # Detector prior: few tokens are heads (focal-loss practice: bias = -log((1 - p) / p)).
        model.detector.mlp_classif[2].bias.fill_(-math.log(99.0))
        dec = model.decoder.smpl_decoder
        for mlp in (dec.pose_head, dec.shape_head, dec.transl_head, dec.depth_head):
            mlp.layers[-1].weight.mul_(0.1)
            mlp.layers[-1].bias.zero_()
