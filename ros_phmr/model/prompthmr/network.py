"""The learned part of a PromptHMR checkpoint, with the released state-dict keys.

Children: ``image_encoder``, ``cam_encoder``, ``prompt_encoder`` (with the optional CLIP text
tower ``clip_encoder``) and ``smpl_decoder``. Body-model buffers stored in the released file
(``smplx.*``, ``smpl.*``, ``smplx2smpl``) are not part of it (see ``model.py``).
"""
from typing import Dict, Optional

import torch
from torch import nn

from ros_phmr.model.prompthmr.decoder import CrossPersonPlan
from ros_phmr.model.prompthmr.dims import PromptHMRDims
from ros_phmr.model.prompthmr.image_encoder import CameraConditioning, ImageEncoder
from ros_phmr.model.prompthmr.interaction import cross_person_plan, pair_matrix
from ros_phmr.model.prompthmr.prompt_encoder import PromptEncoder
from ros_phmr.model.prompthmr.prompts import PersonPrompts
from ros_phmr.model.prompthmr.smpl_decoder import SMPLDecoder
from ros_phmr.model.text.text_encoder import CachedTextEncoder

PATCH_SIZE = 14


class PromptHMRNet(nn.Module):
    """``image_encoder=False`` builds the prompt/decoder part only (keys ``prompt_encoder.*``,
    ``smpl_decoder.*``), for image tokens computed elsewhere (e.g. an exported backbone)."""

    def __init__(self, dims: PromptHMRDims, text_cache_size: int = 256, image_encoder: bool = True):
        super().__init__()
        self.dims = dims
        if image_encoder:
            self.image_encoder = ImageEncoder(dims.backbone, dims.dim)
            self.cam_encoder = CameraConditioning(dims.dim, PATCH_SIZE)
        text = None if dims.text is None else CachedTextEncoder(dims.text, dims.dim, text_cache_size)
        self.prompt_encoder = PromptEncoder(dims.dim, dims.mask_prompt, dims.keypoint_prompt, text)
        self.smpl_decoder = SMPLDecoder(
            dims.dim,
            dims.decoder_depth,
            dims.mlp_dim,
            dims.attention_dim,
            dims.head_depth,
            dims.head_hidden,
            dims.inverse_depth,
        )

    def encode_images(self, images: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) normalised, K (B, 3, 3) of that input -> (B, D, S/14, S/14)."""
        if not hasattr(self, "image_encoder"):
            raise ValueError("this PromptHMRNet was built without its image encoder (image_encoder=False)")
        return self.cam_encoder(self.image_encoder(images), K)

    def encode_prompts(self, prompts: PersonPrompts, rows: int, cols: int):
        """-> sparse tokens (N, 3, D), dense mask embeddings (N, D, rows, cols) or None."""
        device = self.prompt_encoder.not_embeddings.weight.device
        dtype = self.prompt_encoder.not_embeddings.weight.dtype
        boxes = self.prompt_encoder.box_tokens(prompts.boxes.to(device, dtype), PATCH_SIZE * cols)  # (N, 2, D)
        text = self.prompt_encoder.text_tokens(prompts.texts, prompts.count)  # (N, 1, D)
        masks = None if prompts.masks is None else prompts.masks.to(device, dtype)
        dense = self.prompt_encoder.mask_embeddings(masks, prompts.count, rows, cols)
        return torch.cat([boxes, text], dim=1), dense

    def interaction_plan(self, prompts: PersonPrompts, device: torch.device) -> Optional[CrossPersonPlan]:
        """None when nobody interacts by construction (a plain False), else the attention plan."""
        if prompts.interaction is False:
            return None
        image_index = prompts.image_index.to(device)
        pairs = pair_matrix(prompts.interaction, image_index, prompts.num_images)
        return CrossPersonPlan(*cross_person_plan(pairs))

    def decode(self, image_embeddings: torch.Tensor, K: torch.Tensor, prompts: PersonPrompts) -> Dict[str, torch.Tensor]:
        """image_embeddings (B, D, h, w) from ``encode_images``, K (B, 3, 3) -> raw parameters (see SMPLDecoder)."""
        batch, _, rows, cols = image_embeddings.shape
        if prompts.num_images != batch:
            raise ValueError(f"prompts are for {prompts.num_images} images but {batch} image embeddings were given")
        device = image_embeddings.device
        sparse, dense = self.encode_prompts(prompts, rows, cols)
        image_index = prompts.image_index.to(device)
        focal = K.to(device=device, dtype=image_embeddings.dtype)[image_index, 0, 0]  # (N,)
        image_pe = self.prompt_encoder.dense_pe(rows, cols).to(image_embeddings.dtype)  # (h*w, D)
        out = self.smpl_decoder(
            image_embeddings, image_pe, sparse, dense, image_index, focal, self.interaction_plan(prompts, device)
        )
        out["prompt_tokens"] = sparse
        return out

