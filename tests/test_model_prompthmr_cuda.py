"""PromptHMR on a CUDA device: fp32 parity with the upstream goldens, CUDA-graph capture of the
decoder + bodies equal to eager, and finite fp16 autocast outputs. Skipped without CUDA."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_phmr.body import write_synthetic_smplx
from ros_phmr.model.prompthmr import PromptHMR
from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

GOLDEN = Path(__file__).parent / "data" / "golden" / "prompthmr"
RECIPE = json.loads((GOLDEN / "recipe.json").read_text(encoding="utf-8"))
CASE = RECIPE["cases"]["tiny_interaction"]
KEYS = ("pose_6d", "betas", "transl", "rotmats", "vertices", "joints")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.backends.cudnn.allow_tf32 = False  # fp32 parity: no TF32 in the patch-embedding conv
    torch.backends.cuda.matmul.allow_tf32 = False
    spec = RECIPE["checkpoints"][CASE["checkpoint"]]
    smplx = write_synthetic_smplx(tmp_path_factory.mktemp("smplx"), seed=0)
    state = random_prompthmr_state_dict(spec["size"], spec["seed"], spec["include_text_tower"], True, spec["inverse_depth"], smplx)
    return PromptHMR.from_state_dict(state).cuda()


@pytest.fixture(scope="module")
def inputs(model):
    spec = CASE["image"]
    rng = np.random.RandomState(spec["seed"])
    images = (spec["low"] + (spec["high"] - spec["low"]) * rng.random_sample(spec["shape"])).astype(np.float32)
    boxes = np.concatenate([np.array(b) for b in CASE["boxes"]])
    image_index = np.concatenate([np.full(len(b), i) for i, b in enumerate(CASE["boxes"])])
    prompts = model.prepare_prompts(images.shape[-1], 2, boxes, image_index=image_index, interaction=np.array(CASE["interaction"]))
    return torch.from_numpy(images[CASE["image"]["use"]]).cuda(), torch.tensor(CASE["K"]).cuda(), prompts.to("cuda")


def test_fp32_matches_upstream_golden(model, inputs):
    images, K, prompts = inputs
    golden = np.load(GOLDEN / "tiny_interaction.npz")
    with torch.no_grad():
        out = model.bodies(model.decode(model.encode_images(images, K), K, prompts), use_mean_hands=True)
    for key in KEYS:
        diff = np.abs(out[key].cpu().numpy() - golden[key]).max()
        assert diff < 2e-4, f"{key}: {diff}"


def test_cuda_graph_replay_equals_eager(model, inputs):
    images, K, prompts = inputs
    with torch.no_grad():
        embeddings = model.encode_images(images, K)
        eager = model.bodies(model.decode(embeddings, K, prompts), use_mean_hands=True)
        static = embeddings.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                model.bodies(model.decode(static, K, prompts), use_mean_hands=True)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            captured = model.bodies(model.decode(static, K, prompts), use_mean_hands=True)
        static.zero_()
        graph.replay()
        changed = captured["vertices"].clone()
        static.copy_(embeddings)
        graph.replay()
    assert not torch.allclose(changed, eager["vertices"])
    for key in KEYS:
        torch.testing.assert_close(captured[key], eager[key], rtol=0, atol=1e-5)


def test_fp16_autocast_is_finite_and_close(model, inputs):
    images, K, prompts = inputs
    with torch.no_grad():
        reference = model.bodies(model.decode(model.encode_images(images, K), K, prompts))
        with torch.autocast("cuda", dtype=torch.float16):
            half = model.bodies(model.decode(model.encode_images(images, K), K, prompts))
    assert half["vertices"].dtype == torch.float32
    for key in KEYS:
        assert torch.isfinite(half[key]).all(), key
    assert (half["transl"] - reference["transl"]).abs().max() < 0.05
