"""Multi-HMR behaviour on tiny random checkpoints: layout, config checks, detection slots,
masking invariances, depth and placement formulas, error messages."""
import argparse
import math

import pytest
import torch

from ros_phmr.model.checkpoint import load_checkpoint_file
from ros_phmr.model.multihmr import MultiHMRConfig, MultiHMRNet
from ros_phmr.model.multihmr.detection import peak_scores, select_detections
from ros_phmr.model.multihmr.random_checkpoint import (
    multihmr_args,
    random_multihmr_config,
    random_multihmr_state_dict,
    write_random_multihmr_checkpoint,
)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_random_multihmr_checkpoint(tmp_path_factory.mktemp("mh") / "tiny.pt", "tiny", seed=1)


@pytest.fixture(scope="module")
def tiny_net(tiny_file):
    return MultiHMRNet.from_checkpoint(tiny_file, max_people=12)


def _images(batch, size=224, seed=0):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _intrinsics(batch, size=224, fov=60.0, cx=None, cy=None):
    focal = size / (2 * math.tan(math.radians(fov) / 2))
    K = torch.tensor([[focal, 0.0, cx or size / 2], [0.0, focal, cy or size / 2], [0.0, 0.0, 1.0]])
    return K.expand(batch, 3, 3).clone()


def test_full_vit_large_layout_matches_the_release():
    with torch.device("meta"):
        net = MultiHMRNet(MultiHMRConfig.official("vit_large", 896))
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert len(shapes) == 405
    assert sum(math.prod(s) for s in shapes.values()) == pytest.approx(317.11e6, rel=1e-4)
    assert shapes["backbone.encoder.pos_embed"] == (1, 1370, 1024)
    assert shapes["x_attention_head.cross_queries_x"] == (64, 1123)
    assert shapes["x_attention_head.transformer.to_token_embedding.weight"] == (1024, 1454)
    assert shapes["x_attention_head.transformer.transformer.layers.0.1.fn.to_kv.weight"] == (512, 1123)
    assert shapes["x_attention_head.transformer.transformer.layers.1.2.fn.net.3.weight"] == (1024, 1024)
    assert shapes["x_attention_head.init_body_pose"] == (1, 318)
    assert shapes["x_attention_head.init_betas_kid"] == (1, 11)
    assert shapes["mlp_offset.2.weight"] == (2, 1024)


def test_random_checkpoint_is_deterministic_and_in_the_released_format(tiny_file, tmp_path):
    again = write_random_multihmr_checkpoint(tmp_path / "again.pt", "tiny", seed=1)
    other = write_random_multihmr_checkpoint(tmp_path / "other.pt", "tiny", seed=2)
    a, b, c = (load_checkpoint_file(p, "multihmr") for p in (tiny_file, again, other))
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert not torch.equal(a["state_dict"]["mlp_classif.0.weight"], c["state_dict"]["mlp_classif.0.weight"])
    raw = torch.load(tiny_file, weights_only=False)
    assert set(raw) == {"epoch", "iter", "model_state_dict", "args"}
    assert isinstance(raw["args"], argparse.Namespace) and raw["args"].img_size == [224, 224]
    assert raw["args"].train_return_type == "smplx"


def test_config_read_back_from_file(tiny_net):
    assert tiny_net.config == random_multihmr_config("tiny")
    assert tiny_net.config.context_dim == 128 + 99


def test_config_rejects_disagreeing_args():
    config = random_multihmr_config("tiny")
    state = {k: v for k, v in MultiHMRNet(config).state_dict().items()}
    args = vars(multihmr_args(config, "ros_phmr_tiny"))
    with pytest.raises(ValueError, match="args say backbone 'dinov2_vits14'"):
        MultiHMRConfig.from_checkpoint({**args, "backbone": "dinov2_vits14"}, state)
    with pytest.raises(ValueError, match="img_size 448 but the query tables cover 224"):
        MultiHMRConfig.from_checkpoint({**args, "img_size": [448, 448]}, state)
    with pytest.raises(ValueError, match="only SMPL-X"):
        MultiHMRConfig.from_checkpoint({**args, "train_return_type": "anny"}, state)
    with pytest.raises(ValueError, match="xat_depth 3"):
        MultiHMRConfig.from_checkpoint({**args, "xat_depth": 3}, state)
    del state["x_attention_head.cross_queries_x"]
    with pytest.raises(ValueError, match="cross_queries_x' is missing"):
        MultiHMRConfig.from_checkpoint(args, state)


def test_partial_checkpoint_names_missing_keys(tmp_path):
    config = random_multihmr_config("tiny")
    state = random_multihmr_state_dict(config, seed=0)
    state.pop("x_attention_head.decpose.bias")
    state["x_attention_head.extra_table"] = torch.zeros(3)
    path = tmp_path / "partial.pt"
    torch.save({"model_state_dict": state, "args": multihmr_args(config, "ros_phmr_tiny")}, path)
    with pytest.raises(ValueError, match=r"1 missing keys: x_attention_head.decpose.bias.*1 unexpected keys: x_attention_head.extra_table"):
        MultiHMRNet.from_checkpoint(path)


def test_prompthmr_file_is_refused(tmp_path):
    path = tmp_path / "checkpoint.ckpt"
    torch.save({"state_dict": {"image_encoder.backbone.encoder.cls_token": torch.zeros(1, 1, 8),
                               "smpl_decoder.init_pose": torch.zeros(1, 132)}}, path)
    with pytest.raises(ValueError, match="looks like a PromptHMR checkpoint"):
        MultiHMRNet.from_checkpoint(path)


def test_detection_slots_order_cap_and_plateaus():
    scores = torch.zeros(1, 16)
    scores[0, [1, 7, 9, 14]] = torch.tensor([0.5, 0.9, 0.35, 0.6])
    peaks = peak_scores(scores, 4, 4, kernel=1)
    det = select_detections(peaks, threshold=0.3, max_people=3)
    assert det.token_index.tolist() == [[1, 7, 14]]  # best three, back in token order
    assert det.valid.tolist() == [[True, True, True]] and det.num_candidates.tolist() == [4]
    det = select_detections(peaks, threshold=0.55, max_people=4)
    assert det.valid.tolist() == [[True, True, False, False]] and det.token_index[0, :2].tolist() == [7, 14]
    plateau = torch.zeros(1, 16)
    plateau[0, [5, 6]] = 0.9999
    plateau[0, 10] = 0.5
    kept = peak_scores(plateau, 4, 4, kernel=3)
    assert kept[0].nonzero().flatten().tolist() == [5, 6]  # ties both survive, neighbour suppressed
    with pytest.raises(ValueError, match="max_people"):
        select_detections(peaks, 0.3, 0)


def test_no_person_gives_finite_outputs(tiny_net):
    with torch.no_grad():
        out = tiny_net(_images(1), _intrinsics(1), threshold=1.0)
    assert not out.valid.any() and out.num_candidates.tolist() == [0]
    for value in (out.pose6d, out.rotmat, out.betas, out.depth, out.head_position, out.loc):
        assert torch.isfinite(value).all()


def test_empty_slots_and_batch_neighbours_do_not_change_results(tiny_net):
    images, K = _images(2, seed=3), _intrinsics(2)
    K[1, 0, 0] = K[1, 1, 1] = 150.0
    with torch.no_grad():
        pair = tiny_net(images, K, threshold=0.6, max_people=12)
        alone = tiny_net(images[1:], K[1:], threshold=0.6, max_people=8)
    count = int(alone.valid.sum())
    assert 0 < count < 8 and int(pair.valid[1].sum()) == count and pair.valid[0].sum() != count
    for field in ("token_index", "pose6d", "betas", "cam", "expression", "depth", "head_position", "loc"):
        torch.testing.assert_close(getattr(pair, field)[1, :count], getattr(alone, field)[0, :count], atol=1e-5, rtol=1e-5)


def test_depth_and_head_position_formulas(tiny_net):
    images = _images(1, seed=4)
    K = _intrinsics(1, cx=100.0, cy=130.0)
    with torch.no_grad():
        base = tiny_net(images, K)
        K_long = K.clone()
        K_long[0, 0, 0] *= 2.0
        K_long[0, 1, 1] *= 2.0
        longer = tiny_net(images, K_long)
    valid = base.valid[0]
    torch.testing.assert_close(base.depth[0][valid], torch.exp(base.cam[0, valid, 0]).clamp(max=50.0))
    long_valid = longer.valid[0]  # the rays change with K, so the raw outputs do too
    torch.testing.assert_close(longer.depth[0][long_valid], torch.exp(2.0 * longer.cam[0, long_valid, 0]).clamp(max=50.0))
    head = base.head_position[0][valid]  # (P, 3)
    assert torch.allclose(head[:, 2], base.depth[0][valid])
    projected = (head @ K[0].T)[:, :2] / head[:, 2:]
    torch.testing.assert_close(projected, base.loc[0][valid], atol=1e-3, rtol=0)


def test_rotations_are_proper(tiny_net):
    with torch.no_grad():
        out = tiny_net(_images(1, seed=5), _intrinsics(1))
    R = out.rotmat[out.valid]
    identity = torch.eye(3).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), identity, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(R.shape[:-2]), atol=1e-5, rtol=0)
    assert out.body_pose.shape[2:] == (21, 3, 3) and out.left_hand_pose.shape[2:] == (15, 3, 3)


def test_bad_inputs(tiny_net):
    with pytest.raises(ValueError, match=r"\(B, 3, 224, 224\)"):
        tiny_net(_images(1, size=448), _intrinsics(1, size=448))
    with pytest.raises(ValueError, match="K must have shape"):
        tiny_net(_images(2), _intrinsics(1))
    with pytest.raises(ValueError, match="size must be"):
        random_multihmr_config("medium")
