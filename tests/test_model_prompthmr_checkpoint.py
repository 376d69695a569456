"""Random checkpoints in the released layout, architecture detection and strict loading.

``released_layout.json`` lists key, shape and dtype of every tensor of the state dict of
upstream's ``PHMR`` built at the released dimensions (yufu-wang/PromptHMR, see recipe.json).
"""
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ros_phmr.model.checkpoint import load_checkpoint_file, load_state_dict_strict
from ros_phmr.model.prompthmr import FULL_DIMS, TINY_DIMS, PromptHMR, PromptHMRDims, PromptHMRNet, split_body_buffers
from ros_phmr.model.prompthmr.random_checkpoint import (
    dims_for,
    network_layout,
    random_prompthmr_state_dict,
    smpl_buffers,
    write_random_prompthmr_checkpoint,
)

GOLDEN = Path(__file__).parent / "data" / "golden" / "prompthmr"


@pytest.fixture(scope="module")
def released():
    return json.loads((GOLDEN / "released_layout.json").read_text())


@pytest.fixture(scope="module")
def tiny_network():
    return random_prompthmr_state_dict("tiny", 0, include_body=False)


def test_full_network_layout_is_the_released_one(released):
    network = {k: tuple(v[0]) for k, v in released.items() if not k.startswith(("smplx", "smpl."))}
    ours = {k: tuple(v) for k, v in network_layout(dims_for("full")).items()}
    assert ours == network
    assert len(released) == 765


def _pattern(key):
    return re.sub(r"\.\d+\.", ".#.", key)  # layer / block numbers differ with the depths


def test_tiny_checkpoint_has_the_released_structure_and_dtypes(released, tiny_network):
    body = smpl_buffers(0)
    ours = {_pattern(k): str(v.dtype).replace("torch.", "") for k, v in list(tiny_network.items()) + list(body.items())}
    theirs = {_pattern(k): v[1] for k, v in released.items() if not k.startswith("smplx.")}
    assert ours == theirs
    for key in body:
        assert list(body[key].shape) == released[key][0], key


def test_same_seed_same_tensors_and_subsets_agree(tiny_network):
    again = random_prompthmr_state_dict("tiny", 0, include_body=False)
    other = random_prompthmr_state_dict("tiny", 1, include_body=False)
    subset = random_prompthmr_state_dict("tiny", 0, include_body=False, prefixes=["smpl_decoder.pose_head."])
    assert set(subset) == {k for k in tiny_network if k.startswith("smpl_decoder.pose_head.")}
    for key, value in tiny_network.items():
        assert torch.equal(value, again[key]), key
        if key in subset:
            assert torch.equal(value, subset[key])
    weight = "smpl_decoder.transformer.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(tiny_network[weight], other[weight])
    assert torch.equal(tiny_network["smpl_decoder.init_pose"], other["smpl_decoder.init_pose"])


def test_dimensions_are_read_from_the_tensors(tiny_network):
    assert PromptHMRDims.from_state_dict(tiny_network) == TINY_DIMS
    direct = random_prompthmr_state_dict("tiny", 0, include_text_tower=False, include_body=False, inverse_depth=False)
    assert PromptHMRDims.from_state_dict(direct) == replace(TINY_DIMS, inverse_depth=False, text=None)
    layout = {k: torch.empty(v, device="meta") for k, v in network_layout(FULL_DIMS).items()}
    layout["smpl_decoder.init_depth"] = torch.tensor([[0.1]])
    assert PromptHMRDims.from_state_dict(layout) == FULL_DIMS
    assert FULL_DIMS.mlp_dim == 1024 and FULL_DIMS.head_depth == 2


def test_unexpected_init_depth_is_rejected(tiny_network):
    broken = dict(tiny_network, **{"smpl_decoder.init_depth": torch.tensor([[3.0]])})
    with pytest.raises(ValueError, match="init_depth is 3.0"):
        PromptHMRDims.from_state_dict(broken)


def test_strict_loading_names_missing_unexpected_and_mismatched_keys(tiny_network):
    net = PromptHMRNet(PromptHMRDims.from_state_dict(tiny_network))
    missing = {k: v for k, v in tiny_network.items() if k != "smpl_decoder.depth_head.layers.2.bias"}
    with pytest.raises(ValueError, match=r"missing keys: smpl_decoder\.depth_head\.layers\.2\.bias"):
        load_state_dict_strict(net, missing, "PromptHMR checkpoint")
    extra = dict(tiny_network, **{"smpl_decoder.extra_head.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected keys: smpl_decoder\.extra_head\.weight"):
        load_state_dict_strict(net, extra, "PromptHMR checkpoint")
    wrong = dict(tiny_network, **{"prompt_encoder.not_embeddings.weight": torch.zeros(1, 65)})
    with pytest.raises(ValueError, match="not_embeddings.weight: \\(1, 65\\) in file vs \\(1, 64\\)"):
        load_state_dict_strict(net, wrong, "PromptHMR checkpoint")


def test_body_buffers_are_split_off(tiny_network):
    state = dict(tiny_network, **smpl_buffers(0))
    network, body = split_body_buffers(state)
    assert network.keys() == tiny_network.keys()
    assert set(body) == set(smpl_buffers(0))
    assert body["smplx2smpl"].shape == (6890, 10475) and body["smplx2smpl"].stride() == (0, 0)


def test_written_file_reads_back_and_other_kinds_are_refused(tmp_path, tiny_network):
    path = tmp_path / "checkpoint.ckpt"
    smpl = {k: v for k, v in smpl_buffers(0).items()}
    torch.save({"state_dict": dict(tiny_network, **smpl), "epoch": 0}, path)
    loaded = load_checkpoint_file(path, "prompthmr")["state_dict"]
    assert torch.equal(loaded["smpl_decoder.pose_head.layers.2.weight"], tiny_network["smpl_decoder.pose_head.layers.2.weight"])
    with pytest.raises(ValueError, match="expected a Multi-HMR checkpoint"):
        load_checkpoint_file(path, "multihmr")
    with pytest.raises(ValueError, match="unknown checkpoint size"):
        write_random_prompthmr_checkpoint(tmp_path / "x.ckpt", size="huge")


def test_keypoint_prompt_modules_load_when_present(tiny_network):
    """Checkpoints trained with keypoint prompts carry kpt_embeddings (17 joints); the released
    forward never reads them, but strict loading must accept them."""
    state = dict(tiny_network)
    state["prompt_encoder.kpt_embeddings.weight"] = torch.zeros(17, 64)
    state["prompt_encoder.not_kpt_embeddings.weight"] = torch.zeros(1, 64)
    dims = PromptHMRDims.from_state_dict(state)
    assert dims.keypoint_prompt and not TINY_DIMS.keypoint_prompt
    load_state_dict_strict(PromptHMRNet(dims), state, "PromptHMR checkpoint with keypoint prompts")


def test_other_state_dicts_are_not_taken_for_prompthmr():
    with pytest.raises(ValueError, match="not a PromptHMR state dict"):
        PromptHMRDims.from_state_dict({"backbone.encoder.cls_token": torch.zeros(1, 1, 64)})


def test_a_checkpoint_without_smplx_buffers_needs_a_model_file(tiny_network):
    with pytest.raises(ValueError, match="no SMPL-X buffers"):
        PromptHMR.from_state_dict(tiny_network, body_model=None)
    with pytest.raises(ValueError, match="transl_target"):
        PromptHMR(PromptHMRNet(TINY_DIMS), torch.nn.Identity(), transl_target="pelvis")
