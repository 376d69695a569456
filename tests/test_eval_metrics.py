"""Eval metrics against independent computations, and the eval command end to end (tiny)."""
import json

import numpy as np
from scipy.spatial.transform import Rotation

from ros_phmr.eval import (eval_images, iou_histogram, joint_errors, match_people, mean_by_visibility,
                           procrustes_aligned)
from ros_phmr.geometry.projection import box_iou
from ros_phmr.model.fused import FusedConfig, FusedModel


def test_procrustes_undoes_a_similarity():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(22, 3))
    R = Rotation.from_euler("xyz", [30, -50, 80], degrees=True).as_matrix()
    pred = 1.7 * gt @ R.T + np.array([0.3, -2.0, 5.0])
    assert np.allclose(procrustes_aligned(pred, gt), gt, atol=1e-9)
    mpjpe, pa = joint_errors(pred, gt)
    assert pa < 1e-6 and mpjpe > 100


def test_mpjpe_is_root_relative_mean_distance():
    gt = np.zeros((127, 3))
    gt[1:22, 1] = np.arange(1, 22) * 0.1
    pred = gt + np.array([5.0, 0, 0])            # translation only: 0 error
    assert joint_errors(pred, gt)[0] < 1e-9
    pred = gt.copy()
    pred[1:22, 0] += 0.022                       # 21 of 22 joints off by 22 mm
    assert abs(joint_errors(pred, gt)[0] - 21.0) < 1e-6


def test_matching_uses_iou_threshold():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    pred = np.array([[21, 21, 31, 31], [0, 0, 10, 4], [1, 1, 10, 10]], float)
    assert abs(box_iou(pred[:1], gt[1:])[0, 0] - 81 / 119) < 1e-9
    assert sorted(match_people(pred, gt)) == [(0, 1), (2, 0)]


def test_eval_set_is_seeded_and_labelled():
    a = [x for x in eval_images(2, seed=4, width=96, height=72, batch=2)]
    b = [x for x in eval_images(2, seed=4, width=96, height=72, batch=2)]
    assert a[0].image.shape == (72, 96, 3) and a[0].image.dtype == np.uint8
    assert np.array_equal(a[1].people["joints"], b[1].people["joints"])
    assert {"boxes", "joints", "joints2d", "detectable"} <= set(a[0].people)


def test_eval_command_writes_json(tmp_path, capsys):
    from ros_phmr.cli import main

    ckpt = FusedModel.build(FusedConfig.tiny()).save_compact(tmp_path / "m.safetensors")
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(ckpt), "--images", "2", "--prompt-images", "2", "--device", "cpu",
                 "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["images"] == 2 and 0.0 <= metrics["recall"] <= 1.0
    assert sum(metrics["misses_by_best_iou"].values()) == metrics["false_negatives"]
    assert (metrics["pa_mpjpe_mean_pose_mm"] is None) == (metrics["pa_mpjpe_mm"] is None)
    assert sum(metrics["false_positives_by_best_iou"].values()) == metrics["false_positives"]
    by_visibility = metrics["pa_mpjpe_mm_by_visible_fraction"].values()
    assert (metrics["pa_mpjpe_mm"] is None) == all(v is None for v in by_visibility)
    printed = capsys.readouterr().out
    assert "recall" in printed and "misses by best IoU" in printed


def test_error_breakdowns_bin_at_their_edges():
    assert iou_histogram([0.0, 0.05, 0.1, 0.29, 0.3, 0.45, 0.5, 0.9]) == {
        "0-0.1": 2, "0.1-0.3": 2, "0.3-0.5": 2, "0.5-1": 2}
    assert iou_histogram([]) == {"0-0.1": 0, "0.1-0.3": 0, "0.3-0.5": 0, "0.5-1": 0}
    recall = mean_by_visibility([0.3, 0.4, 0.6, 0.95, 1.2], [True, False, True, False, True])
    assert recall == {"0.2-0.5": 0.5, "0.5-0.8": 1.0, "0.8-1": 0.5}
    assert mean_by_visibility([0.9], [True])["0.2-0.5"] is None
    errors = mean_by_visibility([0.2, 0.49, 0.5, 0.8], [40.0, 60.0, 70.0, 30.0])
    assert errors == {"0.2-0.5": 50.0, "0.5-0.8": 70.0, "0.8-1": 30.0}


def test_mean_pose_baseline_is_zero_for_a_relaxed_person_and_not_for_a_random_one():
    import torch

    from ros_phmr.body import BodyModel
    from ros_phmr.demo import synthetic_model_path
    from ros_phmr.eval import _mean_pose_joints
    from ros_phmr.synthetic.poses import random_body_pose, relaxed_body_pose

    body = BodyModel.from_file(synthetic_model_path())
    orient = torch.tensor(Rotation.from_euler("xyz", [170, 20, -40], degrees=True).as_matrix(), dtype=torch.float32)
    with torch.no_grad():
        relaxed = body(orient[None], relaxed_body_pose()[None], torch.zeros(1, 10), transl=torch.tensor([[0.5, 0.2, 4.0]]))
        other = body(orient[None], random_body_pose(1, torch.Generator().manual_seed(0)), torch.zeros(1, 10))
    baseline = _mean_pose_joints()
    assert joint_errors(baseline, relaxed.joints[0].double().numpy())[1] < 1e-3
    assert joint_errors(baseline, other.joints[0].double().numpy())[1] > 20.0
