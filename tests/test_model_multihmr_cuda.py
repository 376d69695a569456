"""Multi-HMR on a CUDA device: CUDA-graph capture (no host syncs, static shapes), fp32 parity
with the upstream goldens, and finite fp16 autocast outputs. Skipped without CUDA."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_phmr.model.checkpoint import load_checkpoint_file
from ros_phmr.model.multihmr import MultiHMRNet
from ros_phmr.model.multihmr.random_checkpoint import write_random_multihmr_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

GOLDEN = Path(__file__).parent / "data" / "golden" / "multihmr"
FIELDS = ("valid", "token_index", "scores", "loc", "pose6d", "betas", "cam", "expression", "depth", "head_position", "rotmat")


def _intrinsics(batch, size):
    focal = size / (2 * np.tan(np.radians(30.0)))
    K = torch.tensor([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]], dtype=torch.float32)
    return K.expand(batch, 3, 3).contiguous()


def test_cuda_graph_replay_equals_eager(tmp_path):
    net = MultiHMRNet.from_checkpoint(write_random_multihmr_checkpoint(tmp_path / "t.pt", "tiny", seed=0), max_people=8).cuda()
    generator = torch.Generator(device="cuda").manual_seed(0)
    static_images = torch.randn(2, 3, 224, 224, device="cuda", generator=generator)
    static_K = _intrinsics(2, 224).cuda()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.no_grad(), torch.cuda.stream(stream):
        for _ in range(3):  # warm-up outside the graph fills the position-embedding cache
            net(static_images, static_K, threshold=0.5)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(graph):
        captured = net(static_images, static_K, threshold=0.5)
    new_images = torch.randn(2, 3, 224, 224, device="cuda", generator=generator)
    static_images.copy_(new_images)
    static_K[1, 0, 0] = static_K[1, 1, 1] = 150.0
    graph.replay()
    with torch.no_grad():
        eager = net(new_images, static_K.clone(), threshold=0.5)
    torch.cuda.synchronize()
    for field in FIELDS:
        torch.testing.assert_close(getattr(captured, field), getattr(eager, field), atol=1e-5, rtol=1e-5)


def test_fp32_parity_with_upstream_on_cuda(tmp_path):
    recipe = json.loads((GOLDEN / "multihmr_s448_few.json").read_text())
    golden = np.load(GOLDEN / "multihmr_s448_few.npz")
    spec = recipe["checkpoint"]
    checkpoint = load_checkpoint_file(
        write_random_multihmr_checkpoint(tmp_path / "s.pt", "full", spec["seed"], spec["arch"], spec["resolution"]), "multihmr")
    state = dict(checkpoint["state_dict"])
    state["mlp_classif.2.bias"] = state["mlp_classif.2.bias"] + recipe["score_bias_shift"]
    net = MultiHMRNet.from_state_dict(state, checkpoint["args"], max_people=16).cuda()
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64)
    images = torch.stack([
        ((torch.randint(0, 256, (448, 448, 3), generator=torch.Generator().manual_seed(s), dtype=torch.uint8).double() / 255
          - mean) / std).permute(2, 0, 1).float()
        for s in recipe["images"]["seeds"]
    ]).cuda()
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.no_grad():
            out = net(images, torch.from_numpy(golden["K"]).cuda())
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    batch, slot = torch.nonzero(out.valid, as_tuple=True)
    np.testing.assert_array_equal(batch.cpu().numpy(), golden["det_batch"])
    for field, key in (("pose6d", "pose6d"), ("betas", "betas"), ("cam", "cam"), ("depth", "depth"), ("scores", "det_scores")):
        np.testing.assert_allclose(getattr(out, field)[batch, slot].cpu().numpy(), golden[key], atol=1e-4, rtol=0)


def test_fp16_autocast_outputs_are_finite(tmp_path):
    net = MultiHMRNet.from_checkpoint(write_random_multihmr_checkpoint(tmp_path / "t.pt", "tiny", seed=0), max_people=8).cuda()
    images = torch.randn(1, 3, 224, 224, device="cuda")
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        out = net(images, _intrinsics(1, 224).cuda(), threshold=0.0)
    assert out.valid.all()
    for field in ("pose6d", "rotmat", "depth", "head_position", "loc"):
        assert torch.isfinite(getattr(out, field)).all(), field
