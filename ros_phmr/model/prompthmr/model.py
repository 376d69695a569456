"""PromptHMR: promptable multi-person SMPL-X recovery, loading the released checkpoint as is.

``PromptHMR.from_checkpoint(path, body_model=None)`` reads the official Lightning file (strictly:
every network key must be present with its shape, nothing unknown may be left over) and,
optionally, an SMPL-X model file for the bodies. The checkpoint also stores body-model buffers: ``smplx.*`` (the
SMPL-X layer upstream poses its meshes with) and ``smpl.*`` plus the 6890x10475 ``smplx2smpl``
map (only for upstream's SMPL evaluation outputs). Without an SMPL-X file the bodies are built
from ``smplx.*`` (exactly upstream's meshes); everything else is set aside and not kept.

Pipeline use: ``encode_images`` once per frame, then ``decode`` for the prompted people
(all images of a batch at once), then ``bodies``; ``forward`` does all three.
"""
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ros_phmr.body import BodyModel
from ros_phmr.geometry.rotations import rot6d_to_matrix
from ros_phmr.model.checkpoint import load_checkpoint_file, load_state_dict_strict
from ros_phmr.model.prompthmr.body_buffers import has_smplx_buffers, smplx_arrays_from_buffers
from ros_phmr.model.prompthmr.dims import PromptHMRDims
from ros_phmr.model.prompthmr.network import PATCH_SIZE, PromptHMRNet
from ros_phmr.model.prompthmr.prompts import ArrayLike, PersonPrompts, prepare_prompts
from ros_phmr.model.prompthmr.smpl_decoder import NUM_POSE_JOINTS

PathLike = Union[str, Path]
BODY_BUFFER_PREFIXES = ("smplx.", "smpl.", "smplx2smpl")
TRANSL_TARGETS = ("transl", "root")


def split_body_buffers(state_dict: Mapping[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """(network entries, body-model buffer entries) of a PromptHMR state dict."""
    network, body = {}, {}
    for key, value in state_dict.items():
        (body if key.startswith(BODY_BUFFER_PREFIXES) else network)[key] = value
    return network, body


def _body_module(body_model, body_buffers: Mapping[str, torch.Tensor]) -> nn.Module:
    if isinstance(body_model, nn.Module):
        return body_model
    if body_model is not None:
        return BodyModel.from_file(body_model, num_betas=10, num_expression=10)
    if not has_smplx_buffers(body_buffers):
        raise ValueError(
            "this checkpoint carries no SMPL-X buffers (smplx.*): pass body_model=<SMPLX_NEUTRAL.npz or its folder> "
            "or a ros_phmr.body.BodyModel"
        )
    return BodyModel(smplx_arrays_from_buffers(body_buffers), num_betas=10, num_expression=10)


def _intrinsics(K: ArrayLike, num_images: int, device: torch.device) -> torch.Tensor:
    """(3, 3) or (B, 3, 3) -> (B, 3, 3) float32 on ``device``; ValueError on bad shape or values."""
    K = torch.as_tensor(np.asarray(K) if not isinstance(K, torch.Tensor) else K, dtype=torch.float32)
    if K.shape == (3, 3):
        K = K.expand(num_images, 3, 3)
    if K.shape != (num_images, 3, 3):
        raise ValueError(f"K must have shape (3, 3) or ({num_images}, 3, 3), got {tuple(K.shape)}")
    if K.device.type == "cpu":
        if not torch.isfinite(K).all():
            raise ValueError("K contains NaN or infinite values")
        if (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
            raise ValueError(f"K must have positive focal lengths, got fx={K[:, 0, 0].tolist()}, fy={K[:, 1, 1].tolist()}")
    return K.to(device)


class PromptHMR(nn.Module):
    def __init__(self, net: PromptHMRNet, body: nn.Module, transl_target: str = "transl"):
        super().__init__()
        if transl_target not in TRANSL_TARGETS:
            raise ValueError(f"transl_target must be one of {TRANSL_TARGETS}, got {transl_target!r}")
        self.net = net
        self.body = body
        self.transl_target = transl_target

    @property
    def dims(self) -> PromptHMRDims:
        return self.net.dims

    @classmethod
    def from_state_dict(
        cls,
        state_dict: Mapping[str, torch.Tensor],
        body_model: Union[PathLike, nn.Module, None] = None,
        transl_target: str = "transl",
        text_cache_size: int = 256,
    ) -> "PromptHMR":
        """Build with the architecture read from the tensors and load them strictly.

        ``body_model``: SMPL-X file/folder or a BodyModel; None uses the checkpoint's own
        ``smplx.*`` buffers. ``transl_target``: what the released config calls ``MODEL.TRANSL`` (not stored in the
        checkpoint): "transl" (the decoded translation is SMPL-X ``transl``, the default) or
        "root" (it is the pelvis position; ``transl`` is recovered by subtracting the rest pelvis).
        """
        network, body = split_body_buffers(state_dict)
        net = PromptHMRNet(PromptHMRDims.from_state_dict(network), text_cache_size)
        load_state_dict_strict(net, network, "PromptHMR checkpoint")
        return cls(net, _body_module(body_model, body), transl_target).eval()

    @classmethod
    def from_checkpoint(
        cls,
        path: PathLike,
        body_model: Union[PathLike, nn.Module, None] = None,
        transl_target: str = "transl",
        text_cache_size: int = 256,
    ) -> "PromptHMR":
        """Load the released ``checkpoint.ckpt`` (or a file in its layout) onto the CPU."""
        checkpoint = load_checkpoint_file(path, "prompthmr")
        return cls.from_state_dict(checkpoint["state_dict"], body_model, transl_target, text_cache_size)

    def prepare_prompts(
        self,
        image_size: int,
        num_images: int,
        boxes: Optional[ArrayLike],
        masks: Optional[ArrayLike] = None,
        texts: Optional[Sequence[Optional[str]]] = None,
        interaction: Union[bool, ArrayLike] = False,
        image_index: Optional[ArrayLike] = None,
    ) -> PersonPrompts:
        """Validated prompts for ``decode`` (host side); see ``prompts.prepare_prompts``."""
        if image_size % PATCH_SIZE:
            raise ValueError(f"model input size {image_size} is not a multiple of the patch size {PATCH_SIZE}")
        return prepare_prompts(boxes, image_size, num_images, masks, texts, image_index, interaction)

    def encode_images(self, images: torch.Tensor, K: ArrayLike) -> torch.Tensor:
        """images (B, 3, S, S) ImageNet-normalised letterboxed input, K of that input -> (B, D, S/14, S/14)."""
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
            raise ValueError(f"images must have shape (B, 3, S, S) (square letterboxed input), got {tuple(images.shape)}")
        return self.net.encode_images(images, _intrinsics(K, images.shape[0], images.device))

    def encode_tokens(self, tokens: torch.Tensor, rows: int, cols: int, K: ArrayLike) -> torch.Tensor:
        """Backbone tokens (B, rows*cols, Dv) of the letterboxed input, K of that input ->
        (B, D, rows, cols): ``encode_images`` without running the backbone again."""
        net = self.net
        embeddings = net.image_encoder.from_tokens(tokens, rows, cols)
        return net.cam_encoder(embeddings, _intrinsics(K, tokens.shape[0], tokens.device))

    def decode(self, image_embeddings: torch.Tensor, K: ArrayLike, prompts: PersonPrompts) -> Dict[str, torch.Tensor]:
        """Raw per-person parameters (pose_6d, betas, transl, transl_c, depth_c, features, ...)."""
        K = _intrinsics(K, image_embeddings.shape[0], image_embeddings.device)
        out = self.net.decode(image_embeddings, K, prompts)
        out["image_index"] = prompts.image_index.to(image_embeddings.device)
        return out

    def bodies(self, params: Dict[str, torch.Tensor], use_mean_hands: bool = False) -> Dict[str, torch.Tensor]:
        """Adds rotmats (N, 22, 3, 3), vertices (N, V, 3) and joints (N, J, 3) to ``params``
        (SMPL-X in fp32, hands flat or the SMPL-X mean hand pose, face neutral)."""
        pose = params["pose_6d"].float()
        count = pose.shape[0]
        rotmats = rot6d_to_matrix(pose.reshape(count, NUM_POSE_JOINTS, 6), "rows")  # (N, 22, 3, 3)
        betas = params["betas"].float()
        transl = params["transl"].float()
        hands = {}
        if use_mean_hands:
            hands = {
                "left_hand_pose": self.body.hands_mean_left.expand(count, -1, -1, -1),
                "right_hand_pose": self.body.hands_mean_right.expand(count, -1, -1, -1),
            }
        with torch.autocast(device_type=pose.device.type, enabled=False):
            if self.transl_target == "root":
                eye = torch.eye(3, device=pose.device).expand(count, NUM_POSE_JOINTS, 3, 3)
                rest = self.body(eye[:, 0], eye[:, 1:], betas)
                transl = transl - rest.joints[:, 0]
            out = self.body(rotmats[:, 0], rotmats[:, 1:], betas, transl=transl, **hands)
        result = dict(params)
        result.update(rotmats=rotmats, transl=transl, vertices=out.vertices, joints=out.joints)
        return result

    def forward(
        self,
        images: torch.Tensor,
        K: ArrayLike,
        boxes: Optional[ArrayLike],
        masks: Optional[ArrayLike] = None,
        texts: Optional[Sequence[Optional[str]]] = None,
        interaction: Union[bool, ArrayLike] = False,
        image_index: Optional[ArrayLike] = None,
        use_mean_hands: bool = False,
    ) -> Dict[str, torch.Tensor]:
        """Decode every prompted person of a batch of letterboxed images.

        images (B, 3, S, S) normalised, K (3, 3) or (B, 3, 3) of the letterboxed input;
        boxes (N, 4|5) xyxy(+conf) in input pixels (None: no boxes); masks (N, 1, 4S/14, 4S/14);
        texts N strings or None; interaction: bool, (B,) per image or (N, N) per pair;
        image_index (N,) needed when B > 1.

        Returns per person: pose_6d (N, 132) raw rot6d ("rows"), rotmats (N, 22, 3, 3),
        betas (N, 10), transl (N, 3) metres in the camera optical frame, vertices (N, V, 3),
        joints (N, J, 3), image_index (N,), and the raw transl_c (N, 2), depth_c (N, 1),
        features (N, 2, D), tokens (N, 5, D), prompt_tokens (N, 3, D).
        """
        prompts = self.prepare_prompts(images.shape[-1], images.shape[0], boxes, masks, texts, interaction, image_index)
        embeddings = self.encode_images(images, K)
        return self.bodies(self.decode(embeddings, K, prompts), use_mean_hands)
