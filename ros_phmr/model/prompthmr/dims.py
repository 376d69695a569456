"""Architecture of a PromptHMR checkpoint, read from its tensors (no config file needed).

Released checkpoints ship without ``config.yaml`` in git; everything the network needs is
recoverable from shapes and buffers: widths and depths from weight shapes, ``MLP_DIM`` from
``mlp.lin1``, the head depth from the number of head layers, ``INVERSE_DEPTH`` from the value
of ``init_depth`` (0.1 inverse, 10 direct), the mask / keypoint / text branches from the
presence of their keys.
"""
import re
from dataclasses import dataclass
from typing import Mapping, Optional

import torch

from ros_phmr.model.backbone import ViTDims, dims_from_state_dict
from ros_phmr.model.text.clip_text import ClipTextDims

BACKBONE_PREFIX = "image_encoder.backbone.encoder."
TEXT_PREFIX = "prompt_encoder.clip_encoder."
DECODER_PREFIX = "smpl_decoder."
INVERSE_DEPTH_INIT = 0.1
DIRECT_DEPTH_INIT = 10.0


@dataclass(frozen=True)
class PromptHMRDims:
    backbone: ViTDims
    dim: int  # token width of prompts, decoder and heads' input
    decoder_depth: int
    mlp_dim: int
    attention_dim: int  # internal width of every decoder attention
    head_depth: int
    head_hidden: int
    inverse_depth: bool
    mask_prompt: bool
    keypoint_prompt: bool
    text: Optional[ClipTextDims]  # None: no CLIP text tower in the checkpoint

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> "PromptHMRDims":
        token_key = DECODER_PREFIX + "smpl_token.weight"
        if token_key not in state_dict:
            raise ValueError(f"not a PromptHMR state dict: key {token_key!r} is missing")
        dim = int(state_dict[token_key].shape[1])
        layer = DECODER_PREFIX + "transformer.layers.{}."
        depth = _count_indexed(state_dict, DECODER_PREFIX + "transformer.layers.")
        head_depth = _count_indexed(state_dict, DECODER_PREFIX + "pose_head.layers.")
        if depth == 0 or head_depth == 0:
            raise ValueError("PromptHMR state dict has no decoder layers or no pose head layers")
        text = None
        if TEXT_PREFIX + "encoder.token_embedding.weight" in state_dict:
            text = ClipTextDims.from_state_dict(state_dict, TEXT_PREFIX + "encoder.")
        return cls(
            backbone=dims_from_state_dict(state_dict, BACKBONE_PREFIX),
            dim=dim,
            decoder_depth=depth,
            mlp_dim=int(_get(state_dict, layer.format(0) + "mlp.lin1.weight").shape[0]),
            attention_dim=int(_get(state_dict, layer.format(0) + "self_attn.q_proj.weight").shape[0]),
            head_depth=head_depth,
            head_hidden=int(_get(state_dict, DECODER_PREFIX + "pose_head.layers.0.weight").shape[0]) if head_depth > 1 else dim,
            inverse_depth=_inverse_depth(_get(state_dict, DECODER_PREFIX + "init_depth")),
            mask_prompt="prompt_encoder.mask_downscaling.0.weight" in state_dict,
            keypoint_prompt="prompt_encoder.kpt_embeddings.weight" in state_dict,
            text=text,
        )


def _get(state_dict: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state_dict:
        raise ValueError(f"PromptHMR state dict is missing {key!r}")
    return state_dict[key]


def _count_indexed(state_dict: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    ids = {int(m.group(1)) for m in (pattern.match(k) for k in state_dict) if m}
    if ids and ids != set(range(len(ids))):
        raise ValueError(f"entries under {prefix!r} are not numbered 0..N-1: {sorted(ids)}")
    return len(ids)


def _inverse_depth(init_depth: torch.Tensor) -> bool:
    value = float(init_depth.reshape(-1)[0])
    if abs(value - INVERSE_DEPTH_INIT) < 1e-6:
        return True
    if abs(value - DIRECT_DEPTH_INIT) < 1e-4:
        return False
    raise ValueError(
        f"smpl_decoder.init_depth is {value}; expected {INVERSE_DEPTH_INIT} (inverse depth) or {DIRECT_DEPTH_INIT} (depth)"
    )


FULL_DIMS = PromptHMRDims(
    backbone=ViTDims(1024, 24, 16),
    dim=1024,
    decoder_depth=4,
    mlp_dim=1024,
    attention_dim=512,
    head_depth=2,
    head_hidden=1024,
    inverse_depth=True,
    mask_prompt=True,
    keypoint_prompt=False,
    text=ClipTextDims(vocab_size=49408, context_length=77, width=768, layers=12, heads=12, output_dim=768),
)

TINY_DIMS = PromptHMRDims(
    backbone=ViTDims(128, 2, 2),
    dim=64,
    decoder_depth=2,
    mlp_dim=96,
    attention_dim=32,
    head_depth=3,
    head_hidden=64,
    inverse_depth=True,
    mask_prompt=True,
    keypoint_prompt=False,
    text=ClipTextDims(vocab_size=49408, context_length=77, width=128, layers=2, heads=2, output_dim=48),
)
