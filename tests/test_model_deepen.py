"""Growing a trained fused model's backbone (``DinoV2.deepen_``, ``ros-phmr train --backbone-depth``):
the grown model computes what the old one did, saves and loads at its new depth, and its new
blocks start to learn."""
import numpy as np
import pytest
import torch

from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.model.backbone import DinoV2
from ros_phmr.model.fused import FusedConfig, FusedModel
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.runtime.precision import fold_layer_scale_
from ros_phmr.train.model import TrainModel

W, H = 200, 150


def _random_backbone(depth: int) -> DinoV2:
    net = DinoV2.from_dims(64, depth, 1).fill_random_(torch.Generator().manual_seed(0))
    return net.eval()


def test_new_blocks_follow_their_neighbours_and_change_nothing():
    net = _random_backbone(2)
    old = list(net.blocks)
    images = torch.randn(2, 3, 56, 70, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = net(images)
        net.deepen_(5)
        after = net(images)
    assert torch.equal(after, before)
    assert net.dims.depth == 5 and len(net.blocks) == 5
    # Slots of the 3 new blocks: (k + 0.5) * 2 / 3 -> after old block 0, 1, 1.
    follows = [0, 0, 1, 1, 1]
    for block, source in zip(net.blocks, follows):
        torch.testing.assert_close(block.attn.qkv.weight, old[source].attn.qkv.weight, rtol=0, atol=0)
        torch.testing.assert_close(block.mlp.fc2.weight, old[source].mlp.fc2.weight, rtol=0, atol=0)
    assert [net.blocks[i] is old[j] for i, j in ((0, 0), (2, 1))] == [True, True]
    for i in (1, 3, 4):
        assert not net.blocks[i].ls1.gamma.any() and not net.blocks[i].ls2.gamma.any()
        assert net.blocks[i].attn.qkv.weight.data_ptr() != old[follows[i]].attn.qkv.weight.data_ptr()


def test_deepen_refuses_shrinking_and_folded_scales():
    with pytest.raises(ValueError, match="cannot deepen a 3-block backbone to 2"):
        _random_backbone(3).deepen_(2)
    folded = _random_backbone(2)
    fold_layer_scale_(folded)
    with pytest.raises(ValueError, match="folded"):
        folded.deepen_(3)


@pytest.fixture(scope="module")
def trained_file(tmp_path_factory):
    """A tiny fused model whose LayerScales and heads are not at their initial values."""
    model = FusedModel.build(FusedConfig.tiny(), seed=5)
    with torch.no_grad():
        model.backbone.fill_random_(torch.Generator().manual_seed(6))
    return model.save_compact(tmp_path_factory.mktemp("deepen") / "fused.safetensors", half=False)


def test_a_grown_file_loads_at_its_depth_and_gives_the_same_people(trained_file, tmp_path):
    model = TrainModel.from_fused(FusedModel.from_compact(trained_file))
    model.deepen_backbone_(5)
    grown = FusedModel.from_compact(model.export(tmp_path / "grown.safetensors", half=False))
    assert len(grown.backbone.blocks) == 5 and grown.config.depth == 5
    assert grown.detector.config.backbone.depth == 5 and grown.decoder.dims.backbone.depth == 5

    frame = np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)
    K = default_intrinsics(W, H)

    def people(path):
        pipe = Pipeline(PipelineConfig(multihmr_checkpoint=str(path), prompthmr_checkpoint=str(path), device="cpu",
                                       detection_threshold=0.0, max_people=2))
        return pipe.process(frame, K).people

    want, got = people(trained_file), people(tmp_path / "grown.safetensors")
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.box_xyxy, w.box_xyxy, atol=1e-3)
        np.testing.assert_allclose(g.vertices, w.vertices, atol=1e-4)


def test_the_new_blocks_learn(trained_file, tmp_path):
    from ros_phmr.train.trainer import TrainConfig, Trainer

    model = TrainModel.from_fused(FusedModel.from_compact(trained_file))
    model.deepen_backbone_(3)
    new = [b for b in model.fused.backbone.blocks if not b.ls1.gamma.any()]
    assert len(new) == 1
    qkv = new[0].attn.qkv.weight.detach().clone()
    trainer = Trainer(TrainConfig(out_dir=str(tmp_path), steps=3, batch_size=2, max_people=2, subdivisions=1,
                                  device="cpu", lr=1e-3, warmup_steps=1, log_every=1), model)
    trainer.run()
    assert new[0].ls1.gamma.abs().min() > 0 and new[0].ls2.gamma.abs().min() > 0
    assert not torch.equal(new[0].attn.qkv.weight, qkv)


def test_train_command_grows_the_backbone(trained_file, tmp_path):
    from ros_phmr.cli import main

    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--model", str(trained_file), "--backbone-depth", "4", "--steps", "1",
                 "--batch-size", "1", "--device", "cpu"]) == 0
    assert len(FusedModel.from_compact(out / "model.safetensors").backbone.blocks) == 4
