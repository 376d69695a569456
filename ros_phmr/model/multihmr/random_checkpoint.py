"""Seeded random-weight Multi-HMR checkpoints in the released file layout.

Released weights cannot be downloaded or shipped here, so tests, demos and benchmarks use files
with the same keys, shapes and ``args`` as the released ``.pt`` but deterministic random values.
The initial-parameter buffers get plausible values (upright person facing the camera, about
2.5 m away) and the decoders are scaled down, so random models give finite, body-like meshes.

* ``size="full"``: released dimensions (default ViT-L at 896; any arch / resolution), loadable by
  the upstream code too.
* ``size="tiny"``: a 2-block 128-wide backbone and a 64-wide head for fast CPU tests; only our
  code can build it (upstream hard-codes the widths).
"""
import argparse
from pathlib import Path
from typing import Dict, Optional, Union

import torch

from ros_phmr.model.backbone import ViTDims
from ros_phmr.model.checkpoint import fill_random_
from ros_phmr.model.multihmr.config import NUM_ROTATIONS, MultiHMRConfig
from ros_phmr.model.multihmr.model import MultiHMRNet

TINY_BACKBONE = ViTDims(embed_dim=128, depth=2, num_heads=2)
TINY_RESOLUTION = 224
HUB_NAME_OF_ARCH = {"vit_small": "dinov2_vits14", "vit_base": "dinov2_vitb14", "vit_large": "dinov2_vitl14"}
# rot6d ('columns': first two columns) of diag(1, -1, -1): SMPL-X's y-up body upright in the
# y-down camera frame, facing the camera.
UPRIGHT_ROT6D = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
IDENTITY_ROT6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
INIT_LOG_DEPTH = 0.9  # exp(0.9) ~ 2.5 m at the reference focal length
DECODER_GAIN = 0.1


def random_multihmr_config(size: str = "tiny", arch: Optional[str] = None,
                           resolution: Optional[int] = None) -> MultiHMRConfig:
    if size == "full":
        return MultiHMRConfig.official(arch or "vit_large", resolution or 896)
    if size == "tiny":
        if arch is not None:
            raise ValueError("size='tiny' has its own reduced backbone; pass arch only with size='full'")
        return MultiHMRConfig(image_size=resolution or TINY_RESOLUTION, backbone=TINY_BACKBONE, hph_dim=64,
                              hph_heads=2, hph_dim_head=16, hph_mlp_dim=64)
    raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")


def set_upright_initial_body_(head, log_depth: float = INIT_LOG_DEPTH) -> None:
    """The HPH's starting body: upright, identity joints, mean shape and expression, at
    exp(log_depth) m. Random or fresh weights then start from a plausible person instead of a
    random rotation."""
    with torch.no_grad():
        pose = torch.tensor(IDENTITY_ROT6D).repeat(NUM_ROTATIONS)
        pose[:6] = torch.tensor(UPRIGHT_ROT6D)
        head.init_body_pose.copy_(pose[None])
        head.init_betas.zero_()
        head.init_betas_kid.zero_()
        head.init_cam.copy_(torch.tensor([[log_depth, 0.0, 0.0]]))
        head.init_expression.zero_()


def random_multihmr_state_dict(config: MultiHMRConfig, seed: int) -> Dict[str, torch.Tensor]:
    """Official-layout tensors drawn from a CPU generator seeded with ``seed`` (deterministic)."""
    generator = torch.Generator().manual_seed(seed)
    net = MultiHMRNet(config)
    fill_random_(net, generator)
    net.backbone.encoder.fill_random_(generator)
    head = net.x_attention_head
    with torch.no_grad():
        for table in (head.cross_queries_x, head.cross_queries_y, head.cross_values_x, head.cross_values_y):
            table.copy_(0.2 * torch.randn(table.shape, generator=generator))  # released init: N(0, 0.2)
        head.transformer.pos_embedding.copy_(torch.randn(head.transformer.pos_embedding.shape, generator=generator))
        for decoder in (head.decpose, head.decshape, head.deccam, head.decexpression, net.mlp_offset[2]):
            decoder.weight.mul_(DECODER_GAIN)
            decoder.bias.mul_(DECODER_GAIN)
        set_upright_initial_body_(head)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def multihmr_args(config: MultiHMRConfig, arch_name: str) -> argparse.Namespace:
    """Training arguments as the released files store them (img_size as a list, return type)."""
    args = argparse.Namespace(
        backbone=arch_name,
        pretrained_backbone=False,
        img_size=[config.image_size, config.image_size],
        camera_embedding="geometric",
        camera_embedding_num_bands=config.camera_num_bands,
        camera_embedding_max_resolution=config.camera_max_resolution,
        nearness=config.log_depth,
        xat_depth=config.hph_depth,
        xat_num_heads=config.hph_heads,
        person_center=config.person_center,
        clip_dist=True,
        num_betas=config.num_betas,
        train_return_type="smplx",
    )
    if config.duplicate_radius:   # ours only: how the detector tells people apart (detection.peak_scores)
        args.duplicate_radius = config.duplicate_radius
        args.duplicate_min_score = config.duplicate_min_score
    return args


def write_random_multihmr_checkpoint(
    path: Union[str, Path],
    size: str = "tiny",
    seed: int = 0,
    arch: Optional[str] = None,
    resolution: Optional[int] = None,
) -> Path:
    """Write ``{"epoch", "iter", "model_state_dict", "args"}`` like the released ``.pt``; returns the path."""
    config = random_multihmr_config(size, arch, resolution)
    arch_name = HUB_NAME_OF_ARCH[arch or "vit_large"] if size == "full" else "ros_phmr_tiny"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "epoch": 0,
        "iter": 0,
        "model_state_dict": random_multihmr_state_dict(config, seed),
        "args": multihmr_args(config, arch_name),
    }
    torch.save(payload, path)
    return path
