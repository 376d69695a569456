"""Compact checkpoints: converted files load through the same loaders and give the same people."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from ros_phmr.assets import write_assets
from ros_phmr.cli import main
from ros_phmr.model.checkpoint import load_checkpoint_file
from ros_phmr.model.compact import read_compact
from ros_phmr.model.multihmr import MultiHMR
from ros_phmr.model.prompthmr.model import PromptHMR

S = 224


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("compact")
    write_assets(root, size="tiny", seed=4)
    official = {"prompthmr": root / "prompthmr" / "checkpoint.ckpt",
                "multihmr": root / "multihmr" / "multiHMR_tiny.pt"}
    both, half = root / "both.safetensors", root / "half.safetensors"
    assert main(["convert", "--prompthmr", str(official["prompthmr"]), "--multihmr",
                 str(official["multihmr"]), "-o", str(both)]) == 0
    assert main(["convert", "--prompthmr", str(official["prompthmr"]), "-o", str(half),
                 "--fp16", "--no-text", "--no-body"]) == 0
    return root, official, both, half


def _phmr_people(model):
    g = torch.Generator().manual_seed(0)
    images = torch.randn(1, 3, S, S, generator=g)
    K = np.array([[200.0, 0, S / 2], [0, 200.0, S / 2], [0, 0, 1]])
    with torch.no_grad():
        return model(images, K, np.array([[20.0, 30, 120, 200], [100, 40, 200, 210]]),
                     interaction=True)


def test_converted_prompthmr_gives_identical_people(files):
    root, official, both, _ = files
    a = _phmr_people(PromptHMR.from_checkpoint(official["prompthmr"]))
    b = _phmr_people(PromptHMR.from_checkpoint(both))
    for key in ("pose_6d", "betas", "transl", "vertices"):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_converted_multihmr_gives_identical_people(files):
    root, official, both, _ = files
    g = torch.Generator().manual_seed(1)
    images = torch.randn(1, 3, 224, 224, generator=g)
    K = torch.tensor([[[190.0, 0, 112], [0, 190.0, 112], [0, 0, 1]]])
    with torch.no_grad():
        a = MultiHMR.from_checkpoint(official["multihmr"], root)(images, K)
        b = MultiHMR.from_checkpoint(both, root)(images, K)
    assert bool(a.valid.any())
    torch.testing.assert_close(a.vertices[a.valid], b.vertices[b.valid], rtol=0, atol=0)


def test_fp16_file_is_small_keeps_buffers_and_stays_close(files):
    root, official, _, half = files
    parts = read_compact(half)
    assert set(parts) == {"prompthmr"}
    state = parts["prompthmr"]["state_dict"]
    assert not any(k.startswith(("smplx.", "smpl.", "prompt_encoder.clip_encoder.")) for k in state)
    full = load_checkpoint_file(official["prompthmr"], "prompthmr")["state_dict"]
    halved = 0
    for key, value in state.items():
        if key.endswith(".weight") and value.dim() >= 2:
            halved += 1
        else:  # biases, norms and init buffers are stored exactly
            torch.testing.assert_close(value, full[key], rtol=0, atol=0)
    assert halved > 10
    a = _phmr_people(PromptHMR.from_checkpoint(official["prompthmr"], root))
    b = _phmr_people(PromptHMR.from_checkpoint(half, root))
    assert (a["transl"] - b["transl"]).abs().max() < 1e-2
    assert half.stat().st_size < official["prompthmr"].stat().st_size / 4


def test_wrong_component_and_foreign_or_corrupt_files_are_named(files, tmp_path):
    _, _, _, half = files
    with pytest.raises(ValueError, match="holds prompthmr, not a Multi-HMR"):
        load_checkpoint_file(half, "multihmr")
    foreign = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a ros_phmr compact checkpoint"):
        load_checkpoint_file(foreign, "prompthmr")
    corrupt = tmp_path / "cut.safetensors"
    corrupt.write_bytes(half.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a readable compact checkpoint"):
        load_checkpoint_file(corrupt, "prompthmr")
