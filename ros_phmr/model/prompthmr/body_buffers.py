"""SMPL-X model arrays recovered from the ``smplx.*`` buffers of a PromptHMR checkpoint.

Upstream registers an ``smplx.SMPLXLayer`` (10 betas, 10 expression coefficients) inside the
model, so the released ``checkpoint.ckpt`` carries the SMPL-X arrays it was trained with, and
after its strict load those buffers - not the ``.npz`` on disk - produce upstream's meshes.
Turning them back into the arrays ``ros_phmr.body.BodyModel`` takes lets a PromptHMR model run
from the checkpoint alone, with exactly upstream's body.
"""
from typing import Dict, Mapping

import numpy as np
import torch

REQUIRED = (
    "v_template", "shapedirs", "expr_dirs", "posedirs", "J_regressor", "lbs_weights", "faces_tensor",
    "parents", "lmk_faces_idx", "lmk_bary_coords", "left_hand_mean", "right_hand_mean",
)
PREFIX = "smplx."


def has_smplx_buffers(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return all(PREFIX + name in state_dict for name in REQUIRED)


def smplx_arrays_from_buffers(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, np.ndarray]:
    """``load_model_arrays``-style arrays from the ``smplx.*`` entries of a checkpoint state dict.

    Shape and expression directions are returned side by side as a (V, 3, 20) SMPL-X v1.0-style
    ``shapedirs`` (10 betas, then 10 expression directions), which is all the layer stored.
    """
    missing = [PREFIX + name for name in REQUIRED if PREFIX + name not in state_dict]
    if missing:
        raise ValueError(f"the checkpoint has no complete SMPL-X buffers (missing {', '.join(missing)}); pass an SMPL-X model file")
    get = lambda name: state_dict[PREFIX + name].detach().cpu().numpy()  # noqa: E731
    v_template = get("v_template").astype(np.float32)
    num_vertices = v_template.shape[0]
    shapedirs, expr_dirs = get("shapedirs"), get("expr_dirs")
    if shapedirs.shape[-1] != 10 or expr_dirs.shape[-1] != 10:
        raise ValueError(f"expected 10 shape and 10 expression directions, got {shapedirs.shape} and {expr_dirs.shape}")
    posedirs = get("posedirs")  # (P, V*3)
    parents = get("parents").astype(np.int64)
    return {
        "v_template": v_template,
        "f": get("faces_tensor").astype(np.int64),
        "shapedirs": np.concatenate([shapedirs, expr_dirs], axis=2).astype(np.float32),  # (V, 3, 20)
        "posedirs": posedirs.T.reshape(num_vertices, 3, -1).astype(np.float32),  # (V, 3, P)
        "J_regressor": get("J_regressor").astype(np.float32),
        "kintree_table": np.stack([parents, np.arange(parents.shape[0])]),
        "weights": get("lbs_weights").astype(np.float32),
        "hands_meanl": get("left_hand_mean").astype(np.float32),
        "hands_meanr": get("right_hand_mean").astype(np.float32),
        "lmk_faces_idx": get("lmk_faces_idx").astype(np.int64),
        "lmk_bary_coords": get("lmk_bary_coords").astype(np.float32),
    }
