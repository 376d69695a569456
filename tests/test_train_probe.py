"""The backbone pose probe: its parts against independent computations, and the command (tiny)."""
import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from ros_phmr.eval import joint_errors
from ros_phmr.train.probe import (ROI_COLS, ROI_ROWS, ProbeSet, joints_in_box, lifted_2d_pose_pa_mpjpe, posed_people,
                                  probe_scores, probe_targets, roi_features)


def test_roi_features_sample_the_box_on_a_grid():
    S, grid = 56, 4                                                     # 4 x 4 tokens of 14 px
    cols = torch.arange(grid, dtype=torch.float32).repeat(grid)         # token value = its column
    rows = torch.arange(grid, dtype=torch.float32).repeat_interleave(grid)
    tokens = torch.stack([cols, rows], -1)[None]                        # (1, 16, 2)
    box = torch.tensor([[14.0 * 1 + 7, 14.0 * 0 + 7, 14.0 * 2 + 7, 14.0 * 3 + 7]])   # token centres (1,0)-(2,3)
    out = roi_features(tokens, box, S).view(2, ROI_ROWS, ROI_COLS)
    np.testing.assert_allclose(out[0, 0].numpy(), np.linspace(1, 2, ROI_COLS), atol=1e-5)   # columns 1 .. 2
    np.testing.assert_allclose(out[1, :, 0].numpy(), np.linspace(0, 3, ROI_ROWS), atol=1e-5)  # rows 0 .. 3


def test_targets_in_camera_axes_and_body_frame_with_the_heading():
    rng = np.random.default_rng(0)
    joints = torch.tensor(rng.normal(size=(1, 127, 3)), dtype=torch.float32)
    turn = torch.tensor(Rotation.from_euler("y", 60, degrees=True).as_matrix(), dtype=torch.float32)[None]
    rotated = (joints - joints[:, :1]) @ turn.transpose(1, 2) + torch.tensor([0.3, 0.1, 4.0])
    pose_a, body_a, head_a = probe_targets(torch.eye(3)[None], joints)
    pose_b, body_b, head_b = probe_targets(turn, rotated)
    expected = ((joints[0, :22] - joints[0, :1]) @ turn[0].T).reshape(1, 66)
    torch.testing.assert_close(pose_b, expected, rtol=0, atol=1e-5)          # camera axes: the turn stays
    torch.testing.assert_close(body_a, body_b, rtol=0, atol=1e-5)            # body frame: the turn is undone
    assert pose_a[0, :3].abs().max() == 0                                    # the pelvis at the origin
    torch.testing.assert_close(head_a, torch.tensor([[0.0, 1.0]]))
    torch.testing.assert_close(head_b, torch.tensor([[np.sin(np.pi / 3), 0.5]], dtype=torch.float32), rtol=0, atol=1e-6)


def test_joints_in_box_are_box_fractions():
    j2d = torch.zeros(1, 127, 2)
    j2d[0, 0] = torch.tensor([10.0, 20.0])      # top-left corner
    j2d[0, 21] = torch.tensor([30.0, 100.0])    # bottom-right corner
    j2d[0, 22] = torch.tensor([99.0, 99.0])     # not a body joint
    out = joints_in_box(j2d, torch.tensor([[10.0, 20.0, 30.0, 100.0]])).view(22, 2)
    torch.testing.assert_close(out[0], torch.tensor([0.0, 0.0]))
    torch.testing.assert_close(out[21], torch.tensor([1.0, 1.0]))


def test_scores_tell_informative_features_from_noise():
    rng = np.random.default_rng(1)
    n = 300
    body_pose = rng.normal(scale=0.05, size=(n, 66)) + rng.normal(scale=0.3, size=66)   # a skeleton, varied
    angle = rng.uniform(-np.pi, np.pi, n)
    heading = np.stack([np.sin(angle), np.cos(angle)], 1)
    turns = Rotation.from_euler("y", angle[:, None]).as_matrix()                                # (n, 3, 3)
    pose = np.einsum("nij,nkj->nki", turns, body_pose.reshape(n, 22, 3)).reshape(n, 66)  # camera axes
    informative = np.concatenate([pose, heading], 1) @ rng.normal(size=(68, 100)) + 0.01 * rng.normal(size=(n, 100))
    noise = rng.normal(size=(n, 100))

    def split(x, reference=None):
        sets = [ProbeSet(x[s], pose[s], body_pose[s], heading[s], None if reference is None else reference[s])
                for s in (slice(0, 250), slice(250, n))]
        return sets

    good, bad = probe_scores(*split(informative)), probe_scores(*split(noise))
    assert good["pose_pa_mpjpe_mm"] < 0.7 * good["mean_pose_pa_mpjpe_mm"] and good["heading_error_deg"] < 10
    assert bad["pose_pa_mpjpe_mm"] > bad["mean_pose_pa_mpjpe_mm"] and bad["heading_error_deg"] > 45
    # The mean-pose reference is the body-frame mean, computed independently here.
    mean = body_pose[:250].mean(0)
    expected = np.mean([joint_errors(mean.reshape(22, 3), t.reshape(22, 3))[1] for t in body_pose[250:]])
    assert good["mean_pose_pa_mpjpe_mm"] == pytest.approx(expected)
    # Reference features ride along: informative ones as the reference of the noise score well.
    both = probe_scores(*split(noise, informative))
    assert both["pose_pa_mpjpe_mm"] == bad["pose_pa_mpjpe_mm"]
    assert both["true_2d_joints_pose_pa_mpjpe_mm"] == good["pose_pa_mpjpe_mm"]


def test_the_lifting_reference_learns_what_a_ridge_cannot():
    # Camera-axes pose = a skeleton turned by a heading that the 2D features hold only through
    # sin / cos of it twice over: far from linear, easy for a small MLP.
    rng = np.random.default_rng(2)
    n = 700
    angle = rng.uniform(-np.pi, np.pi, n)
    skeleton = rng.normal(scale=0.3, size=(22, 3))
    turns = Rotation.from_euler("y", angle[:, None]).as_matrix()                         # (n, 3, 3)
    pose = np.einsum("nij,kj->nki", turns, skeleton).reshape(n, 66)
    features = np.stack([np.cos(2 * angle), np.sin(2 * angle), np.cos(angle) > 0], 1).astype(np.float64)
    features = np.concatenate([features, rng.normal(scale=0.01, size=(n, 41))], 1)         # (n, 44)
    sets = [ProbeSet(features[s], pose[s], pose[s], np.zeros((len(pose[s]), 2)), features[s])
            for s in (slice(0, 600), slice(600, n))]
    linear = probe_scores(*sets)["true_2d_joints_pose_pa_mpjpe_mm"]
    lifted = lifted_2d_pose_pa_mpjpe(*sets, steps=400, hidden=64)
    assert lifted < 0.5 * linear


def test_posed_people_hold_exact_2d_joints_that_a_lifter_reads():
    from ros_phmr.body import BodyModel
    from ros_phmr.demo import synthetic_model_path
    from ros_phmr.synthetic.dataset import SyntheticBatchMaker

    maker = SyntheticBatchMaker(BodyModel.from_file(synthetic_model_path()), 112, 112, max_people=1, letterbox=True)
    train = posed_people(maker, 3000, torch.Generator().manual_seed(0), chunk=1500)
    test = posed_people(maker, 200, torch.Generator().manual_seed(1))
    assert train.joints2d.shape == (3000, 44) and train.pose.shape == (3000, 66)
    # Joints lie inside the body, so inside the box of the projected mesh: box fractions in [0, 1].
    assert train.joints2d.min() >= 0 and train.joints2d.max() <= 1
    # The same person as the generator renders (seed 2: a person well inside the image, so the
    # rendered label's box is not clipped).
    made = maker.make(1, torch.Generator().manual_seed(2))
    np.testing.assert_allclose(posed_people(maker, 1, torch.Generator().manual_seed(2)).joints2d[0],
                               joints_in_box(made.joints2d[:, 0], made.boxes[:, 0])[0].numpy(), atol=1e-4)
    # Exact 2D joints lifted by a small MLP beat the mean body pose by far (pose is in them).
    lifted = lifted_2d_pose_pa_mpjpe(train, test, steps=2000, hidden=256, layers=3, decay=True)
    assert lifted < 0.7 * probe_scores(train, test)["mean_pose_pa_mpjpe_mm"]


def test_probe_command_on_a_tiny_model(tmp_path, capsys):
    from ros_phmr.cli import main

    out = tmp_path / "probe.json"
    assert main(["probe", "--checkpoint", "tiny", "--train-people", "8", "--test-people", "4", "--device", "cpu",
                 "--lifting-steps", "5", "--json", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert scores["train_people"] == 8 and scores["pose_pa_mpjpe_mm"] > 0 and 0 <= scores["heading_error_deg"] <= 180
    assert scores["true_2d_joints_pose_pa_mpjpe_mm"] > 0
    assert scores["true_2d_joints_lifted_pose_pa_mpjpe_mm"] > 0
    printed = capsys.readouterr().out
    assert "true 2D joints read the same way" in printed and "lifted by an MLP" in printed
    # The lifting reference from posed, unrendered people.
    assert main(["probe", "--checkpoint", "tiny", "--train-people", "8", "--test-people", "4", "--device", "cpu",
                 "--lifting-steps", "5", "--lifting-people", "64", "--json", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert scores["lifting_people"] == 64 and scores["true_2d_joints_lifted_pose_pa_mpjpe_mm"] > 0
    assert "(64 training people)" in capsys.readouterr().out


def test_probe_refuses_a_bad_depth_range():
    from ros_phmr.train.probe import run_probe

    with pytest.raises(ValueError, match="depth_range"):
        run_probe("tiny", train_people=4, test_people=2, depth_range=(4.0, 2.0), device="cpu")
