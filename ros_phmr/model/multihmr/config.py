"""Multi-HMR model configuration, read from a checkpoint's ``args`` and its tensor shapes.

The released code hard-codes the head widths (1024 / 8 x 32 / 1024) and takes only the backbone
name, image size and head depth/heads from the training arguments. We read every width from the
tensors themselves, so reduced test sizes load through the same code, and cross-check the
``args`` where they say something.
"""
import math
from dataclasses import dataclass
from typing import Mapping, Optional

import torch

from ros_phmr.model.backbone import HUB_NAMES, PATCH_SIZE, ViTDims, arch_dims, dims_from_state_dict

NUM_ROTATIONS = 53  # global + 21 body + 15 left hand + 15 right hand + jaw
NUM_EXPRESSION = 10
FOV_NORMALISATION_DEG = 60.0  # depth is regressed for a focal of S / (2 tan 30 deg)
MAX_DEPTH_M = 50.0
# SMPL-X joint index of each "person_center" choice of the training script.
PERSON_CENTER_JOINTS = {"pelvis": 0, "head": 15, "nose": 55}

HPH_PREFIX = "x_attention_head."
BOX_HEAD_KEY = HPH_PREFIX + "decbox.weight"  # absent from released files
LAYER_PREFIX = HPH_PREFIX + "transformer.transformer.layers."


@dataclass(frozen=True)
class MultiHMRConfig:
    image_size: int  # square model input S (448, 672, 896, 1288)
    backbone: ViTDims
    hph_dim: int = 1024
    hph_depth: int = 2
    hph_heads: int = 8
    hph_dim_head: int = 32
    hph_mlp_dim: int = 1024
    num_betas: int = 10
    camera_num_bands: int = 16
    camera_max_resolution: int = 64
    person_center: str = "head"
    log_depth: bool = True  # 'nearness' in the released args: depth regressed in log space
    box_head: bool = False  # our compact models only: the HPH also regresses each person's box
    # Our compact models only, trained with offset votes (det_votes): > 0 lets a token stay a peak
    # beside a higher one if it scores at least duplicate_min_score and the two point at heads at
    # least this many patches apart (0: the released 3x3 NMS). See detection.peak_scores.
    duplicate_radius: float = 0.0
    duplicate_min_score: float = 0.0

    def __post_init__(self):
        if self.image_size <= 0 or self.image_size % PATCH_SIZE:
            raise ValueError(f"image_size {self.image_size} must be a positive multiple of {PATCH_SIZE}")
        if self.person_center not in PERSON_CENTER_JOINTS:
            raise ValueError(f"person_center {self.person_center!r} not in {sorted(PERSON_CENTER_JOINTS)}")
        if not self.duplicate_radius >= 0.0:
            raise ValueError(f"duplicate_radius must be >= 0 patches, got {self.duplicate_radius}")
        if not 0.0 <= self.duplicate_min_score <= 1.0:
            raise ValueError(f"duplicate_min_score must be in [0, 1], got {self.duplicate_min_score}")
        if self.num_betas not in (10, 11):
            raise ValueError(f"num_betas must be 10 or 11, got {self.num_betas}")

    @property
    def grid(self) -> int:
        return self.image_size // PATCH_SIZE

    @property
    def camera_channels(self) -> int:
        return 3 + 2 * 3 * self.camera_num_bands

    @property
    def context_dim(self) -> int:
        """Width of [backbone feature | ray features], the HPH key/value and query input."""
        return self.backbone.embed_dim + self.camera_channels

    @property
    def pose_dim(self) -> int:
        return 6 * NUM_ROTATIONS

    @property
    def token_dim(self) -> int:
        """Query token: context feature + initial pose, betas and cam (not expression)."""
        return self.context_dim + self.pose_dim + self.num_betas + 3

    @property
    def person_center_joint(self) -> int:
        return PERSON_CENTER_JOINTS[self.person_center]

    @property
    def reference_focal(self) -> float:
        """f_n: the focal length the depth output is normalised to."""
        return self.image_size / (2.0 * math.tan(math.radians(FOV_NORMALISATION_DEG) / 2.0))

    @classmethod
    def official(cls, arch: str = "vit_large", image_size: int = 896) -> "MultiHMRConfig":
        """Sizes of the released models (the head is the same for every backbone)."""
        return cls(image_size=image_size, backbone=arch_dims(arch))

    @classmethod
    def from_checkpoint(cls, args: Mapping, state_dict: Mapping[str, torch.Tensor]) -> "MultiHMRConfig":
        """Config of an official-layout state dict; ValueError when args and tensors disagree."""
        def shape(key: str) -> tuple:
            if key not in state_dict:
                raise ValueError(f"not a Multi-HMR SMPL-X checkpoint: key {key!r} is missing")
            return tuple(state_dict[key].shape)

        return_type = args.get("train_return_type", "smplx")
        if return_type != "smplx":
            raise ValueError(f"only SMPL-X Multi-HMR checkpoints are supported, this one returns {return_type!r}")
        if args.get("camera_embedding", "geometric") != "geometric":
            raise ValueError(f"unsupported camera_embedding {args['camera_embedding']!r} (only 'geometric')")
        backbone = dims_from_state_dict(state_dict, "backbone.encoder.")
        named = args.get("backbone")
        if named in HUB_NAMES and arch_dims(named) != backbone:
            raise ValueError(f"args say backbone {named!r} but the tensors hold a ViT of {backbone}")

        grid, context_dim = shape(HPH_PREFIX + "cross_queries_x")
        image_size = _image_size_arg(args.get("img_size"))
        if image_size is None:
            image_size = grid * PATCH_SIZE
        elif image_size != grid * PATCH_SIZE:
            raise ValueError(f"args say img_size {image_size} but the query tables cover {grid * PATCH_SIZE} px")

        depth = len({k[len(LAYER_PREFIX):].split(".", 1)[0] for k in state_dict if k.startswith(LAYER_PREFIX)})
        heads = int(args.get("xat_num_heads", 8))
        inner = shape(LAYER_PREFIX + "0.1.fn.to_q.weight")[0]
        if inner % heads:
            raise ValueError(f"attention width {inner} is not divisible by xat_num_heads {heads}")
        if "xat_depth" in args and int(args["xat_depth"]) != depth:
            raise ValueError(f"args say xat_depth {args['xat_depth']} but the file has {depth} HPH layers")
        config = cls(
            image_size=image_size,
            backbone=backbone,
            hph_dim=shape(HPH_PREFIX + "transformer.to_token_embedding.weight")[0],
            hph_depth=depth,
            hph_heads=heads,
            hph_dim_head=inner // heads,
            hph_mlp_dim=shape(LAYER_PREFIX + "0.2.fn.net.0.weight")[0],
            num_betas=shape(HPH_PREFIX + "decshape.weight")[0],
            camera_num_bands=int(args.get("camera_embedding_num_bands", 16)),
            camera_max_resolution=int(args.get("camera_embedding_max_resolution", 64)),
            person_center=str(args.get("person_center", "head")),
            log_depth=bool(args.get("nearness", True)),
            box_head=BOX_HEAD_KEY in state_dict,
            duplicate_radius=float(args.get("duplicate_radius", 0.0)),
            duplicate_min_score=float(args.get("duplicate_min_score", 0.0)),
        )
        if config.context_dim != context_dim:
            raise ValueError(
                f"query tables are {context_dim} wide but backbone {backbone.embed_dim} + camera "
                f"{config.camera_channels} = {config.context_dim}"
            )
        return config


def _image_size_arg(value) -> Optional[int]:
    """The released args store img_size as a list [S, S]; the public train.py as an int."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not value or any(int(v) != int(value[0]) for v in value):
            raise ValueError(f"only square Multi-HMR inputs are supported, args give img_size {value}")
        value = value[0]
    return int(value)
