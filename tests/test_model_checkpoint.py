"""Checkpoint reading: the three layouts, kind detection, clear errors, strict loading."""
import argparse
import warnings

import pytest
import torch
from torch import nn

from ros_phmr.model.checkpoint import (
    detect_checkpoint_kind,
    fill_random_,
    load_checkpoint_file,
    load_state_dict_strict,
    sub_state_dict,
)

MULTIHMR_KEYS = {
    "backbone.encoder.cls_token": torch.zeros(1, 1, 4),
    "mlp_classif.0.weight": torch.zeros(4, 4),
    "x_attention_head.init_cam": torch.zeros(1, 3),
}
PROMPTHMR_KEYS = {
    "image_encoder.backbone.encoder.cls_token": torch.zeros(1, 1, 4),
    "smpl_decoder.init_pose": torch.zeros(1, 132),
    "prompt_encoder.not_embeddings.weight": torch.zeros(1, 4),
}


class NotATensor:
    """A class the restricted unpickler does not know."""


def test_multihmr_layout_with_namespace_args(tmp_path):
    path = tmp_path / "multiHMR_tiny.pt"
    args = argparse.Namespace(backbone="dinov2_vits14", img_size=[448, 448], xat_depth=2)
    torch.save({"epoch": 1, "iter": 2, "model_state_dict": MULTIHMR_KEYS, "args": args}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain Namespace must not need the unsafe path
        loaded = load_checkpoint_file(path, "multihmr")
    assert loaded["kind"] == "multihmr" and loaded["path"] == path
    assert loaded["args"] == {"backbone": "dinov2_vits14", "img_size": [448, 448], "xat_depth": 2}
    assert set(loaded["state_dict"]) == set(MULTIHMR_KEYS)


def test_lightning_layout(tmp_path):
    path = tmp_path / "checkpoint.ckpt"
    torch.save({"epoch": 3, "global_step": 10, "state_dict": PROMPTHMR_KEYS}, path)
    loaded = load_checkpoint_file(path, "prompthmr")
    assert set(loaded["state_dict"]) == set(PROMPTHMR_KEYS) and loaded["args"] == {}


def test_bare_dinov2_state_dict(tmp_path):
    path = tmp_path / "dinov2.pth"
    torch.save({"cls_token": torch.zeros(1), "patch_embed.proj.weight": torch.zeros(1), "blocks.0.ls1.gamma": torch.zeros(1)}, path)
    assert load_checkpoint_file(path, "dinov2")["kind"] == "dinov2"


def test_wrong_kind_says_what_the_file_looks_like(tmp_path):
    path = tmp_path / "checkpoint.ckpt"
    torch.save({"state_dict": PROMPTHMR_KEYS}, path)
    with pytest.raises(ValueError, match="expected a Multi-HMR checkpoint.*looks like a PromptHMR checkpoint"):
        load_checkpoint_file(path, "multihmr")
    other = tmp_path / "other.pt"
    torch.save({"model_state_dict": {"foo.weight": torch.zeros(1)}}, other)
    with pytest.raises(ValueError, match="unrecognised state dict.*foo"):
        load_checkpoint_file(other, "multihmr")


def test_missing_truncated_and_unknown_kind(tmp_path):
    with pytest.raises(FileNotFoundError, match="Multi-HMR checkpoint not found"):
        load_checkpoint_file(tmp_path / "nope.pt", "multihmr")
    good = tmp_path / "good.pt"
    torch.save({"model_state_dict": MULTIHMR_KEYS}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint_file(truncated, "multihmr")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint_file(garbage, "multihmr")
    with pytest.raises(ValueError, match="not a file"):
        load_checkpoint_file(tmp_path, "multihmr")
    with pytest.raises(ValueError, match="unknown checkpoint kind"):
        load_checkpoint_file(good, "smplx")


def test_arbitrary_pickles_only_on_the_multihmr_path_and_with_a_warning(tmp_path):
    path = tmp_path / "odd_args.pt"
    torch.save({"model_state_dict": MULTIHMR_KEYS, "args": argparse.Namespace(extra=NotATensor())}, path)
    with pytest.warns(UserWarning, match="weights_only=False"):
        loaded = load_checkpoint_file(path, "multihmr")
    assert isinstance(loaded["args"]["extra"], NotATensor)
    lightning = tmp_path / "odd.ckpt"
    torch.save({"state_dict": PROMPTHMR_KEYS, "hyper_parameters": NotATensor()}, lightning)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_checkpoint_file(lightning, "prompthmr")


def test_non_tensor_entries_and_missing_state_dict(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"model_state_dict": {**MULTIHMR_KEYS, "x_attention_head.note": "hello"}}, path)
    with pytest.raises(ValueError, match="not tensors: x_attention_head.note"):
        load_checkpoint_file(path, "multihmr")
    torch.save({"weights": 1}, path)
    with pytest.raises(ValueError, match="no state dict found.*weights"):
        load_checkpoint_file(path, "multihmr")


def test_detect_and_sub_state_dict():
    assert detect_checkpoint_kind(MULTIHMR_KEYS) == "multihmr"
    assert detect_checkpoint_kind(PROMPTHMR_KEYS) == "prompthmr"
    assert detect_checkpoint_kind({"foo": torch.zeros(1)}) is None
    assert set(sub_state_dict(PROMPTHMR_KEYS, "image_encoder.backbone.encoder.")) == {"cls_token"}


def test_strict_load_names_every_problem():
    module = nn.Sequential(*[nn.Linear(2, 2) for _ in range(12)])
    state = {k: v.clone() for k, v in module.state_dict().items()}
    for i in range(11):
        del state[f"{i}.bias"]
    state["extra.weight"] = torch.zeros(1)
    state["11.weight"] = torch.zeros(3, 2)
    with pytest.raises(ValueError) as info:
        load_state_dict_strict(module, state, "tiny stack")
    message = str(info.value)
    assert "cannot load tiny stack" in message
    assert "11 missing keys: 0.bias, 1.bias" in message and "(1 more)" in message
    assert "1 unexpected keys: extra.weight" in message
    assert "11.weight: (3, 2) in file vs (2, 2) in model" in message


def test_strict_load_succeeds_and_copies():
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    fill_random_(source, torch.Generator().manual_seed(0))
    load_state_dict_strict(target, source.state_dict(), "linear")
    torch.testing.assert_close(target.weight, source.weight)


def test_fill_random_is_deterministic_and_scaled():
    a, b = nn.Sequential(nn.Linear(400, 8), nn.LayerNorm(8)), nn.Sequential(nn.Linear(400, 8), nn.LayerNorm(8))
    fill_random_(a, torch.Generator().manual_seed(5))
    fill_random_(b, torch.Generator().manual_seed(5))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert 0.02 < a[0].weight.std() < 0.08  # ~ 1/sqrt(400)
    assert (a[1].weight - 1).abs().max() < 0.5
