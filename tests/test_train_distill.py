"""Distillation: a student trained on a random teacher's outputs gets closer to them."""
import numpy as np
import torch

from ros_phmr.model.fused import FusedConfig, FusedModel
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.train.distill import distill, pseudo_batch, teacher_frames
from ros_phmr.train.model import TrainModel
from ros_phmr.train.trainer import TrainConfig


def _teacher(tmp_path):
    path = FusedModel.build(FusedConfig.tiny(), seed=3).save_compact(tmp_path / "teacher.safetensors")
    return Pipeline(PipelineConfig(prompthmr_checkpoint=str(path), multihmr_checkpoint=str(path), device="cpu",
                                   detection_threshold=0.0, max_people=3))


def _frames():
    rng = np.random.default_rng(0)
    K = np.array([[90.0, 0, 79.5], [0, 90.0, 59.5], [0, 0, 1]])
    return [(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), K) for _ in range(2)]


def test_teacher_labels_are_in_the_student_frame(tmp_path):
    teacher = _teacher(tmp_path)
    labels = teacher_frames(teacher, _frames(), 112, "cpu")
    assert len(labels) == 2 and labels[0].image.shape == (3, 112, 112)
    people = labels[0].boxes.shape[0]
    assert people == 3
    batch = pseudo_batch(labels, 4, teacher.vertex_count, "cpu")
    assert batch.valid[0].tolist() == [True, True, True, False]
    # Joints projected with the letterboxed K land where the teacher's (letterboxed) pixels are.
    res = teacher.process(*_frames()[0])
    scale = 112 / 160
    uv = (res.people[0].joints_2d[:22] + 0.5) * scale - 0.5 + np.array([0.0, (112 - 84) / 2])
    assert np.allclose(batch.joints2d[0, 0, :22].numpy(), uv, atol=0.05)


def test_student_loss_falls(tmp_path):
    torch.manual_seed(0)
    config = TrainConfig(out_dir=str(tmp_path / "student"), steps=10, batch_size=2, lr=2e-3, warmup_steps=1,
                         max_people=3, device="cpu")
    summary = distill(TrainModel.new_fused("tiny"), _teacher(tmp_path), _frames(), config)
    assert summary["steps"] == 10 and summary["frames"] == 2
    assert summary["last_loss"] < 0.7 * summary["first_loss"]
    assert FusedModel.from_compact(summary["checkpoint"]).config == FusedConfig.tiny()
