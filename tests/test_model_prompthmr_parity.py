"""Parity with upstream PromptHMR (yufu-wang/PromptHMR, commit in recipe.json).

The goldens were made by building upstream's ``PHMR`` at the sizes in recipe.json, loading the
checkpoints that OUR ``random_prompthmr_state_dict`` writes for the recorded seeds (SMPL-X
buffers from ``write_synthetic_smplx(dir, seed=0)``), and running upstream's forward on the
recorded inputs. We regenerate the checkpoints from the seeds and compare on CPU in fp32.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_phmr.body import BodyModel, write_synthetic_smplx
from ros_phmr.model.checkpoint import load_state_dict_strict
from ros_phmr.model.prompthmr import FULL_DIMS, PromptHMR, PromptHMRNet
from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict, write_random_prompthmr_checkpoint
from golden import npz_fingerprint

GOLDEN = Path(__file__).parent / "data" / "golden" / "prompthmr"
RECIPE = json.loads((GOLDEN / "recipe.json").read_text(encoding="utf-8"))
PARAMS = ("pose_6d", "betas", "transl_c", "depth_c", "transl", "rotmats")
TOKENS = ("prompt_tokens", "tokens", "features")
BODY = ("vertices", "joints")
PARAM_TOL = 1e-4  # and metres for vertices / joints
FULL_PROMPT_DECODER = [
    "prompt_encoder.pe_layer.",
    "prompt_encoder.point_embeddings.",
    "prompt_encoder.not_embeddings.",
    "prompt_encoder.no_mask_embed.",
    "prompt_encoder.mask_downscaling.",
    "smpl_decoder.",
]


def recorded_input(spec) -> torch.Tensor:
    """Inputs too big to store are uniform draws of numpy's frozen legacy RandomState."""
    rng = np.random.RandomState(spec["seed"])
    values = spec["low"] + (spec["high"] - spec["low"]) * rng.random_sample(spec["shape"])
    return torch.from_numpy(values.astype(np.float32))


def case_images(case):
    return recorded_input(case["image"])[case["image"]["use"]]


def assert_matches(out, golden, keys, atol=PARAM_TOL):
    for key in keys:
        ours = out[key].detach().numpy()
        assert ours.shape == golden[key].shape, key
        diff = np.abs(ours - golden[key]).max()
        assert diff <= atol, f"{key}: max abs diff {diff:.3g} > {atol}"




@pytest.fixture(scope="module")
def smplx_file(tmp_path_factory):
    path = write_synthetic_smplx(tmp_path_factory.mktemp("smplx"), seed=0)
    assert npz_fingerprint(path) == RECIPE["smplx_sha256"], (
        "write_synthetic_smplx(seed=0) changed since the PromptHMR goldens were made: regenerate "
        "tests/data/golden/prompthmr with the upstream driver (recipe.json)"
    )
    return path


@pytest.fixture(scope="module")
def models(smplx_file):
    """Checkpoint name -> PromptHMR loaded from the regenerated state dict (bodies from its smplx.* buffers)."""
    built = {}
    for name in ("tiny_s0", "tiny_s1_direct_notext"):
        spec = RECIPE["checkpoints"][name]
        state = random_prompthmr_state_dict(
            spec["size"], spec["seed"], spec["include_text_tower"], True, spec["inverse_depth"], smplx_file
        )
        built[name] = state
    return built


_LOADED = {}


def load(models, case):
    key = (case["checkpoint"], case.get("transl_target", "transl"))
    if key not in _LOADED:
        _LOADED[key] = PromptHMR.from_state_dict(models[key[0]], body_model=None, transl_target=key[1])
    return _LOADED[key]


def run(model, case, golden, **prompt_args):
    images = case_images(case)
    with torch.no_grad():
        embeddings = model.encode_images(images, torch.tensor(case["K"]))
        prompts = model.prepare_prompts(images.shape[-1], images.shape[0], **prompt_args)
        out = model.bodies(model.decode(embeddings, torch.tensor(case["K"]), prompts), case["use_mean_hands"])
    out["image_embeddings"] = embeddings
    return out


def test_boxes_from_a_written_checkpoint_file(tmp_path, smplx_file):
    case = RECIPE["cases"]["tiny_boxes"]
    golden = np.load(GOLDEN / "tiny_boxes.npz")
    path = write_random_prompthmr_checkpoint(tmp_path / "checkpoint.ckpt", "tiny", 0, smplx_model=smplx_file)
    model = PromptHMR.from_checkpoint(path, body_model=smplx_file)
    assert isinstance(model.body, BodyModel)
    out = run(model, case, golden, boxes=np.array(case["boxes"]), interaction=case["interaction"])
    assert_matches(out, golden, ("image_embeddings",) + TOKENS + PARAMS + BODY)


def test_masks_and_text(models):
    case = RECIPE["cases"]["tiny_masks_text"]
    golden = np.load(GOLDEN / "tiny_masks_text.npz")
    model = load(models, case)
    out = run(model, case, golden, boxes=np.array(case["boxes"]), masks=golden["mask_input"], texts=case["texts"])
    assert_matches(out, golden, ("image_embeddings",) + TOKENS + PARAMS + BODY)
    assert model.net.prompt_encoder.has_text


def test_interaction_per_image_over_a_batch_with_mean_hands(models):
    case = RECIPE["cases"]["tiny_interaction"]
    golden = np.load(GOLDEN / "tiny_interaction.npz")
    model = load(models, case)
    boxes = np.concatenate([np.array(b) for b in case["boxes"]])
    image_index = np.concatenate([np.full(len(b), i) for i, b in enumerate(case["boxes"])])
    out = run(model, case, golden, boxes=boxes, image_index=image_index, interaction=np.array(case["interaction"]))
    assert_matches(out, golden, ("image_embeddings",) + TOKENS + PARAMS + BODY)


def test_direct_depth_and_root_translation_without_text_tower(models):
    case = RECIPE["cases"]["tiny_direct_root"]
    golden = np.load(GOLDEN / "tiny_direct_root.npz")
    model = load(models, case)
    assert not model.dims.inverse_depth and not model.net.prompt_encoder.has_text
    out = run(model, case, golden, boxes=np.array(case["boxes"]), interaction=case["interaction"])
    assert_matches(out, golden, ("image_embeddings",) + TOKENS + PARAMS + BODY)


def test_released_dimensions_decoder(smplx_file):
    """Prompt encoder + decoder at the released sizes on recorded image tokens (2 people,
    one mask, interaction on); the image encoder is left out to keep the test fast."""
    case = RECIPE["cases"]["full_decoder"]
    golden = np.load(GOLDEN / "full_decoder.npz")
    spec = RECIPE["checkpoints"][case["checkpoint"]]
    state = random_prompthmr_state_dict(spec["size"], spec["seed"], False, False, spec["inverse_depth"], prefixes=FULL_PROMPT_DECODER)
    net = PromptHMRNet(FULL_DIMS.__class__(**{**FULL_DIMS.__dict__, "text": None}), image_encoder=False)
    load_state_dict_strict(net, state, "released-size prompt encoder + decoder")
    model = PromptHMR(net, BodyModel.from_file(smplx_file)).eval()
    embeddings = recorded_input(case["image_embeddings"])
    assert embeddings.shape == (1, 1024, 64, 64) and math.isclose(case["image_embeddings"]["high"], math.sqrt(3))
    prompts = model.prepare_prompts(896, 1, boxes=np.array(case["boxes"]), masks=golden["mask_input"], interaction=True)
    with torch.no_grad():
        out = model.bodies(model.decode(embeddings, torch.tensor(case["K"]), prompts), case["use_mean_hands"])
    assert_matches(out, golden, TOKENS + PARAMS + BODY)


def test_bodies_from_checkpoint_buffers_equal_the_model_file(models, smplx_file):
    """The checkpoint's smplx.* buffers (what upstream poses with) rebuild the same body as the .npz."""
    case = RECIPE["cases"]["tiny_boxes"]
    from_buffers = load(models, case)
    from_file = PromptHMR(from_buffers.net, BodyModel.from_file(smplx_file)).eval()
    params = {
        "pose_6d": torch.randn(3, 132, generator=torch.Generator().manual_seed(0)),
        "betas": torch.randn(3, 10, generator=torch.Generator().manual_seed(1)),
        "transl": torch.tensor([[0.1, 0.2, 5.0], [0.0, -0.3, 8.0], [1.0, 0.0, 3.0]]),
    }
    a, b = from_buffers.bodies(params, use_mean_hands=True), from_file.bodies(params, use_mean_hands=True)
    torch.testing.assert_close(a["vertices"], b["vertices"], rtol=0, atol=1e-6)
    torch.testing.assert_close(a["joints"], b["joints"], rtol=0, atol=1e-6)


def test_forward_in_one_call_and_prompt_errors(models):
    case = RECIPE["cases"]["tiny_boxes"]
    golden = np.load(GOLDEN / "tiny_boxes.npz")
    model = load(models, case)
    images = case_images(case)
    with torch.no_grad():
        out = model(images, np.array(case["K"][0]), np.array(case["boxes"]))
    assert_matches(out, golden, PARAMS + BODY)
    assert out["vertices"].shape == (3, 10475, 3) and out["joints"].shape == (3, 127, 3)
    assert out["image_index"].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="prompt list is empty"):
        model(images, case["K"][0], np.zeros((0, 4)))
    with pytest.raises(ValueError, match="K must have shape"):
        model(images, np.eye(4), np.array(case["boxes"]))
    with pytest.raises(ValueError, match="positive focal"):
        model(images, np.diag([0.0, 1.0, 1.0]), np.array(case["boxes"]))
    with pytest.raises(ValueError, match="square"):
        model(images[..., :210], case["K"][0], np.array(case["boxes"]))
