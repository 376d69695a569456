"""Training on synthetic batches: the loss falls, checkpoints resume, exports load in the pipeline."""
import math

import numpy as np
import pytest
import torch

from ros_phmr.model.fused import FusedConfig, FusedModel
from ros_phmr.train.losses import focal_loss, joint_heat_loss, part_token_targets, weighted_total
from ros_phmr.train.model import HEAT_PRIOR_LOGIT, TrainModel
from ros_phmr.train.targets import detector_targets, joint_heat_targets
from ros_phmr.train.trainer import TrainConfig, Trainer, training_losses


def _trainer(tmp_path, **kw):
    cfg = TrainConfig(out_dir=str(tmp_path), steps=kw.pop("steps", 12), batch_size=2, lr=2e-3, warmup_steps=1,
                      max_people=2, subdivisions=1, log_every=1, checkpoint_every=1000, device="cpu", **kw)
    torch.manual_seed(0)
    return Trainer(cfg, TrainModel.new_fused("tiny"))


def test_loss_falls_on_a_fixed_batch(tmp_path):
    trainer = _trainer(tmp_path)
    batch = trainer.maker.make(2, torch.Generator().manual_seed(1))
    totals = []
    for _ in range(12):
        losses = training_losses(trainer.model, batch, torch.Generator().manual_seed(2), trainer.body, trainer._amp)
        total = weighted_total(losses)
        trainer.optimizer.zero_grad()
        total.backward()
        trainer.optimizer.step()
        totals.append(float(total))
    assert {"det_focal", "det_j3d", "det_box", "dec_j2d", "dec_logdepth", "aux_parts", "aux_heat"} <= set(losses)
    assert np.mean(totals[-3:]) < 0.7 * totals[0]


def test_run_logs_plots_resumes_and_exports(tmp_path):
    trainer = _trainer(tmp_path, steps=3)
    summary = trainer.run()
    assert summary["steps"] == 3 and (tmp_path / "loss.png").stat().st_size > 1000
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 3
    resumed = _trainer(tmp_path, steps=5, resume=True)
    assert resumed.step == 3
    assert torch.equal(resumed.model.detector.mlp_classif[0].weight, trainer.model.detector.mlp_classif[0].weight)
    assert resumed.run()["steps"] == 5

    # The export is a fused compact checkpoint the pipeline runs with one backbone pass.
    from ros_phmr.pipeline import Pipeline, PipelineConfig

    path = summary["checkpoint"]
    model = FusedModel.from_compact(path)
    assert model.config == FusedConfig.tiny()
    pipe = Pipeline(PipelineConfig(prompthmr_checkpoint=path, multihmr_checkpoint=path, device="cpu"))
    assert pipe.shared_backbone
    K = np.array([[100.0, 0, 80], [0, 100.0, 60], [0, 0, 1]])
    pipe.process(np.zeros((120, 160, 3), np.uint8), K)


def test_detector_targets_tokens_and_ties():
    # Two people with their heads in the same 14 px token: only the nearer is a positive.
    j2d = torch.zeros(1, 3, 127, 2)
    j2d[0, 0, 15] = torch.tensor([20.0, 30.0])
    j2d[0, 1, 15] = torch.tensor([25.0, 33.0])
    j2d[0, 2, 15] = torch.tensor([100.0, 50.0])
    valid = torch.tensor([[True, True, True]])
    detectable = torch.tensor([[True, True, False]])
    t = detector_targets(j2d, valid, detectable, torch.tensor([[5.0, 3.0, 4.0]]), 112)
    assert t.token[0, :2].tolist() == [2 * 8 + 1, 2 * 8 + 1]
    assert t.positive[0].tolist() == [False, True, False]
    assert torch.allclose(t.offset[0, 1], torch.tensor([25 / 14 - 1 - 0.5, 33 / 14 - 2 - 0.5]))
    assert t.heat[0, 17] == 1.0 and t.heat.max() == 1.0
    assert t.weight[0, 3 * 8 + 7] == 0.0    # the hidden person's head token is ignored


def test_focal_loss_prefers_right_answer():
    heat = torch.zeros(1, 16)
    heat[0, 3] = 1.0
    weight = torch.ones(1, 16)
    good = torch.full((1, 16), -6.0)
    good[0, 3] = 6.0
    assert focal_loss(good, heat, weight) < 0.01 < focal_loss(-good, heat, weight)


def test_part_targets_are_token_histograms():
    parts = torch.full((1, 28, 28), -1)
    parts[0, :14, :7] = 4        # left half of token 0 shows joint 4
    t = part_token_targets(parts)
    assert t.shape == (1, 4, 23)
    assert torch.allclose(t[0, 0, [0, 5]], torch.tensor([0.5, 0.5]))
    assert torch.allclose(t[0, 1:, 0], torch.ones(3))


def test_scene_options_reach_the_batches_and_bad_ranges_are_refused(tmp_path):
    trainer = _trainer(tmp_path, min_people=2, depth_range=(2.0, 2.6))
    batch = trainer.maker.make(6, torch.Generator().manual_seed(4))
    assert batch.valid.sum(1).min() == 2                                # max_people 2, min_people 2
    pelvis_depth = batch.joints[..., 0, 2][batch.valid]
    # Depth is drawn along the level camera axis and the camera pitches by up to 12 degrees.
    assert pelvis_depth.min() > 2.0 * 0.95 - 0.3 and pelvis_depth.max() < 2.6 + 0.3
    for bad in ((3.0, 2.0), (0.2, 4.0), (2.0, 2.0)):
        with pytest.raises(ValueError, match="depth_range"):
            TrainConfig(out_dir=str(tmp_path), depth_range=bad)


def test_train_command_passes_the_scene_options(tmp_path, capsys):
    from ros_phmr.cli import main

    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--model", "tiny", "--steps", "1", "--batch-size", "1", "--device", "cpu",
                 "--max-people", "2", "--min-people", "2", "--depth-range", "2.0", "3.0"]) == 0
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["config"]["min_people"] == 2 and tuple(state["config"]["depth_range"]) == (2.0, 3.0)


def test_joint_heat_targets_peaks_neighbours_and_misses():
    # 112 px input -> 8 x 8 tokens of 14 px. Person 0's left hip (joint 1) at token (row 2, col 5);
    # person 1's at token (row 6, col 0); person 2 is not valid; right hip (joint 2) of person 0
    # is outside the image.
    j2d = torch.full((1, 3, 127, 2), -50.0)
    j2d[0, 0, 1] = torch.tensor([5 * 14 + 3.0, 2 * 14 + 9.0])
    j2d[0, 1, 1] = torch.tensor([2.0, 6 * 14 + 1.0])
    j2d[0, 2, 1] = torch.tensor([40.0, 40.0])
    j2d[0, 0, 2] = torch.tensor([120.0, 20.0])
    valid = torch.tensor([[True, True, False]])
    sigma = 0.8
    heat = joint_heat_targets(j2d, valid, 112, sigma=sigma)                     # (1, 64, 22)
    assert heat.shape == (1, 64, 22)
    hip = heat[0, :, 1].view(8, 8)
    assert hip[2, 5] == 1.0 and hip[6, 0] == 1.0
    assert hip[2, 6].item() == pytest.approx(math.exp(-1 / (2 * sigma ** 2)))        # one token right
    assert hip[3, 4].item() == pytest.approx(math.exp(-2 / (2 * sigma ** 2)))        # one diagonal step
    assert hip[2, 2].item() == pytest.approx(math.exp(-9 / (2 * sigma ** 2)))        # 3 right of (2, 5)
    assert hip[2, 2] < 0.001 and (hip == 1.0).sum() == 2                            # invalid person 2: no peak at (2, 2)
    assert heat[0, :, 2].max() == 0.0                                               # joint outside the image
    assert heat[0, :, 0].max() == 0.0                                               # joints at -50 px


def test_joint_heat_loss_rewards_heat_at_the_joints():
    j2d = torch.full((2, 2, 127, 2), 60.0)
    j2d[:, :, :22] = torch.rand(2, 2, 22, 2) * 111
    valid = torch.tensor([[True, True], [True, False]])
    heat = joint_heat_targets(j2d, valid, 112)
    right = torch.where(heat >= 0.999, 8.0, -8.0)
    assert joint_heat_loss(right, j2d, valid, 112) < 0.01 < joint_heat_loss(torch.zeros_like(right), j2d, valid, 112)
    # The prior logit of the untrained head already beats an uninformed 0.5 everywhere.
    prior = torch.full_like(right, HEAT_PRIOR_LOGIT)
    assert joint_heat_loss(prior, j2d, valid, 112) < joint_heat_loss(torch.zeros_like(right), j2d, valid, 112)
