"""Deterministic random-weight PromptHMR checkpoints in the released layout.

The released ``checkpoint.ckpt`` cannot be downloaded or shipped here, so tests and demos use
files with exactly its structure: a Lightning-style dict whose ``state_dict`` holds the same
keys, nesting and dtypes (``image_encoder``, ``cam_encoder``, ``prompt_encoder`` with the CLIP
text tower, ``smpl_decoder``, and the body-model buffers ``smplx.*``, ``smpl.*``,
``smplx2smpl``), filled with random values.

* ``size="full"``: the released dimensions (DINOv2 ViT-L/14, 1024-wide decoder of depth 4,
  MLP 1024, 2-layer heads, CLIP ViT-L/14 text tower), about 575 M values.
* ``size="tiny"``: the same structure with small widths and depths for fast CI.

Every tensor is drawn from numpy's frozen legacy ``RandomState`` seeded by (seed, key name), so
a file is reproducible across numpy/torch versions and any subset of keys can be regenerated
alone. Values are "sane": PyTorch-default-like uniform ranges for linear layers, unit-variance
prompt embeddings, LayerNorm scales near 1, and output heads scaled so that depths stay near
10 m; fixed buffers (init offsets, the person-index sinusoid table) carry their released
values. ``smplx.*`` comes from an SMPL-X model file (by default the synthetic one of
``ros_phmr.body.write_synthetic_smplx(dir, seed=0)``); ``smpl.*`` is random; ``smplx2smpl`` is
the constant averaging matrix stored with zero strides (a few bytes on disk).
"""
import math
import re
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch

from ros_phmr.model.prompthmr.dims import DIRECT_DEPTH_INIT, FULL_DIMS, INVERSE_DEPTH_INIT, TINY_DIMS, PromptHMRDims
from ros_phmr.model.prompthmr.network import PromptHMRNet
from ros_phmr.model.prompthmr.positional import sinusoid_table
from ros_phmr.model.prompthmr.smpl_decoder import released_init_pose

PathLike = Union[str, Path]
SIZES: Dict[str, PromptHMRDims] = {"tiny": TINY_DIMS, "full": FULL_DIMS}
SMPL_VERTICES = 6890
SMPL_FACES = 13776
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
SMPL_TO_OPENPOSE = [24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34]
SMPLX_TO_OPENPOSE = [55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65]
SMPL_EXTRA_VERTEX_IDS = [332, 6260, 2800, 4071, 583, 3216, 3226, 3387, 6617, 6624, 6787,
                         2746, 2319, 2445, 2556, 2673, 6191, 5782, 5905, 6016, 6133]
HAND_PCA_COMPONENTS = 6  # smplx.SMPLXLayer default, so its buffers have 6 rows
NUM_BETAS = 10
NUM_EXPRESSION = 10
# Standard deviation of each head's residual output: visible poses and shapes, root offsets
# inside the image, decoded depths within about 8-12 m. Hidden head layers use He-uniform
# ranges so the signal keeps its scale through the ReLUs whatever the head depth.
HEAD_OUTPUT_STD = {"pose_head": 0.3, "shape_head": 1.0, "transl_head": 0.15, "depth_head": 0.015}


def dims_for(size: str, inverse_depth: bool = True, include_text_tower: bool = True) -> PromptHMRDims:
    if size not in SIZES:
        raise ValueError(f"unknown checkpoint size {size!r}; expected one of {sorted(SIZES)}")
    dims = replace(SIZES[size], inverse_depth=inverse_depth)
    return dims if include_text_tower else replace(dims, text=None)


def _rng(seed: int, key: str) -> np.random.RandomState:
    return np.random.RandomState((seed * 1_000_003 + zlib.crc32(key.encode())) % (2**32))


def _uniform(rng: np.random.RandomState, shape, low: float, high: float) -> torch.Tensor:
    return torch.from_numpy((low + (high - low) * rng.random_sample(shape)).astype(np.float32))


def _symmetric(rng, shape, bound: float) -> torch.Tensor:
    return _uniform(rng, shape, -bound, bound)


# LayerNorm (and channel LayerNorm) parameters of every part of the released model.
_NORM = re.compile(r"\.(norm\d*|norm_final_attn|ln_1|ln_2|ln_final|neck\.1|mask_downscaling\.[14])\.(weight|bias)$")


def _network_value(key: str, shape, dims: PromptHMRDims, rng) -> torch.Tensor:
    """Random (or fixed) value of one network tensor."""
    unit = math.sqrt(3.0)  # uniform bound of a unit-variance distribution
    name = key.rsplit(".", 1)[-1]
    if name == "pos_table":
        return sinusoid_table(shape[1], shape[2])
    if key.endswith("smpl_decoder.init_pose"):
        return released_init_pose()
    if key.endswith(("smpl_decoder.init_betas",)):
        return torch.zeros(shape)
    if key.endswith("smpl_decoder.init_transl"):
        return torch.zeros(shape, dtype=torch.int64)  # released buffer is int64
    if key.endswith("smpl_decoder.init_depth"):
        return torch.full(shape, INVERSE_DEPTH_INIT if dims.inverse_depth else DIRECT_DEPTH_INIT)
    if name == "positional_encoding_gaussian_matrix":
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    if name == "logit_scale":
        return torch.full(shape, math.log(1 / 0.07))
    if name in ("cls_token", "mask_token", "pos_embed") or key.endswith("token_embedding.weight"):
        return _symmetric(rng, shape, 0.02 * unit)
    if name == "positional_embedding":
        return _symmetric(rng, shape, 0.01 * unit)
    if name == "gamma":  # DINOv2 LayerScale
        return _uniform(rng, shape, 0.2, 1.0)
    if re.search(r"(point_embeddings\.\d+|not_embeddings|no_mask_embed|smpl_token|kpt_embeddings|not_kpt_embeddings)\.weight$", key):
        return _symmetric(rng, shape, unit)
    if _NORM.search(key):
        return _uniform(rng, shape, 0.8, 1.2) if name == "weight" else _symmetric(rng, shape, 0.1)
    if len(shape) >= 2:  # linear / conv weights, text projection, fused in-projection
        fan_in = int(np.prod(shape[1:]))
        head = re.match(r"smpl_decoder\.(\w+_head)\.layers\.(\d+)\.weight$", key)
        if head and int(head.group(2)) == dims.head_depth - 1:
            return _symmetric(rng, shape, HEAD_OUTPUT_STD[head.group(1)] * unit / math.sqrt(fan_in))
        if head:
            return _symmetric(rng, shape, math.sqrt(6 / fan_in))
        return _symmetric(rng, shape, 1 / math.sqrt(fan_in))
    return _symmetric(rng, shape, 0.05)  # biases


def network_layout(dims: PromptHMRDims) -> Dict[str, torch.Size]:
    """Key -> shape of the network part, read from our module built on the meta device."""
    with torch.device("meta"):
        net = PromptHMRNet(dims)
    return {k: v.shape for k, v in net.state_dict().items()}


def _axis_angle_to_matrix_f64(aa: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) Rodrigues in float64 (the released hands_mean buffer is float64)."""
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    skew = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * skew + (1 - c) * (skew @ skew)


def _normalised_rows(rng, shape) -> torch.Tensor:
    w = rng.random_sample(shape)
    return torch.from_numpy((w / w.sum(axis=-1, keepdims=True)).astype(np.float32))


def smplx_buffers(arrays: Dict[str, np.ndarray], seed: int) -> Dict[str, torch.Tensor]:
    """The 20 ``smplx.*`` buffers the released model registers, from SMPL-X model arrays."""
    from ros_phmr.body.layout import EXTRA_VERTEX_IDS  # fixed vertex ids, no model data

    v_template = arrays["v_template"]
    num_vertices = v_template.shape[0]
    shapedirs = arrays["shapedirs"]
    expr_start = 300 if shapedirs.shape[-1] >= 300 + NUM_EXPRESSION else NUM_BETAS
    posedirs = arrays["posedirs"]
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    hands_l, hands_r = arrays["hands_meanl"].astype(np.float32), arrays["hands_meanr"].astype(np.float32)
    hands_mean = _axis_angle_to_matrix_f64(np.concatenate([hands_l, hands_r]).astype(np.float64).reshape(30, 3))
    extra_ids = torch.tensor([i for _, i in EXTRA_VERTEX_IDS], dtype=torch.int64)
    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    return {
        "smplx.shapedirs": f32(shapedirs[:, :, :NUM_BETAS]),
        "smplx.faces_tensor": torch.from_numpy(arrays["f"].astype(np.int64)),
        "smplx.v_template": f32(v_template),
        "smplx.J_regressor": f32(arrays["J_regressor"]),
        "smplx.posedirs": f32(posedirs.reshape(-1, posedirs.shape[-1]).T),
        "smplx.parents": torch.from_numpy(parents),
        "smplx.lbs_weights": f32(arrays["weights"]),
        "smplx.left_hand_components": f32(arrays["hands_componentsl"][:HAND_PCA_COMPONENTS]),
        "smplx.right_hand_components": f32(arrays["hands_componentsr"][:HAND_PCA_COMPONENTS]),
        "smplx.left_hand_mean": f32(hands_l),
        "smplx.right_hand_mean": f32(hands_r),
        "smplx.pose_mean": f32(np.concatenate([np.zeros(3 + 63 + 9), hands_l, hands_r])),
        "smplx.lmk_faces_idx": torch.from_numpy(arrays["lmk_faces_idx"].astype(np.int64)),
        "smplx.lmk_bary_coords": f32(arrays["lmk_bary_coords"]),
        "smplx.expr_dirs": f32(shapedirs[:, :, expr_start:expr_start + NUM_EXPRESSION]),
        "smplx.joint_map": torch.tensor(SMPLX_TO_OPENPOSE, dtype=torch.int64),
        "smplx.smpl_joints": _normalised_rows(_rng(seed, "smplx.smpl_joints"), (24, num_vertices)),
        "smplx.hands_mean": torch.from_numpy(hands_mean[None]),  # (1, 30, 3, 3) float64
        "smplx.vertex_joint_selector.extra_joints_idxs": extra_ids,
        "smplx.ffh_joints_selector.extra_joints_idxs": extra_ids.clone(),
    }


def smpl_buffers(seed: int) -> Dict[str, torch.Tensor]:
    """The 9 ``smpl.*`` buffers (unused by ros_phmr) and ``smplx2smpl``, random but well formed."""
    r = lambda key: _rng(seed, key)  # noqa: E731
    count = len(SMPL_PARENTS)
    return {
        "smpl.shapedirs": _symmetric(r("smpl.shapedirs"), (SMPL_VERTICES, 3, NUM_BETAS), 0.02),
        "smpl.faces_tensor": torch.from_numpy(r("smpl.faces_tensor").randint(0, SMPL_VERTICES, (SMPL_FACES, 3)).astype(np.int64)),
        "smpl.v_template": _symmetric(r("smpl.v_template"), (SMPL_VERTICES, 3), 0.5),
        "smpl.J_regressor": _normalised_rows(r("smpl.J_regressor"), (count, SMPL_VERTICES)),
        "smpl.posedirs": _symmetric(r("smpl.posedirs"), (9 * (count - 1), 3 * SMPL_VERTICES), 0.002),
        "smpl.parents": torch.tensor(SMPL_PARENTS, dtype=torch.int64),
        "smpl.lbs_weights": _normalised_rows(r("smpl.lbs_weights"), (SMPL_VERTICES, count)),
        "smpl.joint_map": torch.tensor(SMPL_TO_OPENPOSE, dtype=torch.int64),
        "smpl.vertex_joint_selector.extra_joints_idxs": torch.tensor(SMPL_EXTRA_VERTEX_IDS, dtype=torch.int64),
        "smplx2smpl": torch.full((1, 1), 1.0 / 10475).expand(SMPL_VERTICES, 10475),
    }


def _default_smplx_arrays() -> Dict[str, np.ndarray]:
    from ros_phmr.body import load_model_arrays, write_synthetic_smplx

    with tempfile.TemporaryDirectory() as tmp:
        return load_model_arrays(write_synthetic_smplx(tmp, seed=0))


def random_prompthmr_state_dict(
    size: str = "tiny",
    seed: int = 0,
    include_text_tower: bool = True,
    include_body: bool = True,
    inverse_depth: bool = True,
    smplx_model: Optional[PathLike] = None,
    prefixes: Optional[Sequence[str]] = None,
) -> Dict[str, torch.Tensor]:
    """The random state dict of ``write_random_prompthmr_checkpoint``, in memory.

    ``prefixes`` restricts the network keys that are generated (e.g. only the prompt encoder
    and decoder); each tensor's values do not depend on which others are generated.
    """
    dims = dims_for(size, inverse_depth, include_text_tower)
    state: Dict[str, torch.Tensor] = {}
    for key, shape in network_layout(dims).items():
        if prefixes is None or key.startswith(tuple(prefixes)):
            state[key] = _network_value(key, tuple(shape), dims, _rng(seed, key))
    if include_body:
        if smplx_model is None:
            arrays = _default_smplx_arrays()
        else:
            from ros_phmr.body import load_model_arrays

            arrays = load_model_arrays(smplx_model)
        state.update(smplx_buffers(arrays, seed))
        state.update(smpl_buffers(seed))
    return state


def write_random_prompthmr_checkpoint(
    path: PathLike,
    size: str = "tiny",
    seed: int = 0,
    include_text_tower: bool = True,
    inverse_depth: bool = True,
    smplx_model: Optional[PathLike] = None,
) -> Path:
    """Write a Lightning-style ``{"state_dict": ...}`` file in the released PromptHMR layout.

    ``size``: "tiny" (CI) or "full" (released dimensions, ~2.3 GB with the text tower).
    ``include_text_tower=False`` leaves out ``prompt_encoder.clip_encoder.*`` (no text prompts).
    ``inverse_depth=False`` writes a model that predicts depth instead of inverse depth.
    ``smplx_model``: SMPL-X file or folder for the ``smplx.*`` buffers (default: synthetic, seed 0).
    """
    state = random_prompthmr_state_dict(size, seed, include_text_tower, True, inverse_depth, smplx_model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0}, path)
    return path
