"""Prompt tokens + image tokens -> SMPL-X body parameters for every person.

State-dict layout of PromptHMR's ``smpl_decoder``: ``smpl_token`` (2 learned query tokens:
smpl, loc), ``transformer`` (see decoder.py), four MLP heads ``{pose,shape,transl,depth}_head``
(ReLU between layers; depth and widths come from the checkpoint) and the init offsets they
predict residuals on: ``init_pose`` (22 rot6d; global orient = 180 deg about x, i.e. upright in
the camera frame), ``init_betas``, ``init_transl`` and ``init_depth`` (0.1 = inverse depth,
10 = depth).

Heads: pose and shape read the smpl token, translation and depth the loc token.
"""
from typing import Dict, Optional

import torch
from torch import nn

from ros_phmr.model.prompthmr.decoder import CrossPersonPlan, TwoWayDecoder
from ros_phmr.model.prompthmr.translation import decode_translation

NUM_POSE_JOINTS = 22  # global orient + 21 body joints
NUM_BETAS = 10


class RegressionHead(nn.Module):
    """``layers.{j}``: Linear layers with ReLU between them."""

    def __init__(self, dim: int, hidden: int, out_dim: int, depth: int):
        super().__init__()
        widths_in = [dim] + [hidden] * (depth - 1)
        widths_out = [hidden] * (depth - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths_in, widths_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


def released_init_pose() -> torch.Tensor:
    upright = torch.tensor([[1.0, 0, 0, 0, -1, 0]])  # rot6d rows of diag(1, -1, -1)
    identity = torch.tensor([[1.0, 0, 0, 0, 1, 0]])
    return torch.cat([upright, identity.repeat(1, NUM_POSE_JOINTS - 1)], dim=1)  # (1, 132)


class SMPLDecoder(nn.Module):
    def __init__(
        self,
        dim: int,
        depth: int,
        mlp_dim: int,
        attention_dim: int,
        head_depth: int,
        head_hidden: int,
        inverse_depth: bool,
    ):
        super().__init__()
        self.inverse_depth = inverse_depth
        self.smpl_token = nn.Embedding(2, dim)
        self.transformer = TwoWayDecoder(dim, depth, mlp_dim, attention_dim)
        self.pose_head = RegressionHead(dim, head_hidden, NUM_POSE_JOINTS * 6, head_depth)
        self.shape_head = RegressionHead(dim, head_hidden, NUM_BETAS, head_depth)
        self.transl_head = RegressionHead(dim, head_hidden, 2, head_depth)
        self.depth_head = RegressionHead(dim, head_hidden, 1, head_depth)
        self.register_buffer("init_pose", released_init_pose())
        self.register_buffer("init_betas", torch.zeros(1, NUM_BETAS))
        self.register_buffer("init_transl", torch.zeros(1, 2))
        self.register_buffer("init_depth", torch.tensor([[0.1 if inverse_depth else 10.0]]))

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_tokens: torch.Tensor,
        dense_embeddings: Optional[torch.Tensor],
        image_index: torch.Tensor,
        focal: torch.Tensor,
        plan: Optional[CrossPersonPlan],
    ) -> Dict[str, torch.Tensor]:
        """image_embeddings (B, D, h, w), image_pe (h*w, D), sparse_tokens (N, 3, D),
        dense_embeddings (N, D, h, w) or None, image_index (N,), focal (N,) fx of each person's
        model-input K.

        Returns pose_6d (N, 132), betas (N, 10), transl (N, 3), transl_c (N, 2) and depth_c
        (N, 1) (raw loc outputs), features (N, 2, D) (smpl and loc tokens), tokens (N, 5, D).
        """
        count = sparse_tokens.shape[0]
        tokens = torch.cat([self.smpl_token.weight.expand(count, -1, -1), sparse_tokens], dim=1)  # (N, 5, D)
        # Token-major and in the transformer's dtype once per image, then each person's own copy:
        # the per-person copies are contiguous rows, not N transposing casts.
        src = image_embeddings.flatten(2).transpose(1, 2)  # (B, h*w, D)
        src = src.to(self.transformer.dtype, memory_format=torch.contiguous_format).index_select(0, image_index)
        if dense_embeddings is not None:
            src = src + dense_embeddings.flatten(2).transpose(1, 2).to(src.dtype)  # (N, h*w, D)
        hs = self.transformer(src, image_pe, tokens, plan)  # (N, 5, D)
        smpl_token, loc_token = hs[:, 0], hs[:, 1]
        pose_6d = self.pose_head(smpl_token) + self.init_pose  # (N, 132)
        betas = self.shape_head(smpl_token) + self.init_betas  # (N, 10)
        depth_c = self.depth_head(loc_token) + self.init_depth  # (N, 1)
        transl_c = self.transl_head(loc_token) + self.init_transl  # (N, 2)
        transl = decode_translation(transl_c, depth_c, focal, self.inverse_depth)  # (N, 3)
        return {
            "pose_6d": pose_6d,
            "betas": betas,
            "transl": transl,
            "transl_c": transl_c,
            "depth_c": depth_c,
            "features": hs[:, :2],
            "tokens": hs,
        }
