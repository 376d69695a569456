"""Distillation: a fast fused student learns to reproduce a teacher pipeline on unlabeled frames.

The teacher (any checkpoints the pipeline loads: official PromptHMR + Multi-HMR, or a compact
file) runs once over the user's recording (bag, video or image folder, read by
``ros_phmr.offline.sources``); its people become pseudo-labels in the student's letterboxed
input frame: head tokens for the detector, boxes as prompts, SMPL-X rotations, shape,
translation, joints and vertices for both heads. The student is then trained with the same
losses as on synthetic data (``ros_phmr.train.losses``), on random batches of the cached frames.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from ros_phmr.geometry.letterbox import letterbox_torch
from ros_phmr.geometry.rotations import axis_angle_to_matrix
from ros_phmr.train.losses import weighted_total
from ros_phmr.train.model import TrainModel, freeze_unused, parameter_groups
from ros_phmr.train.trainer import learning_rate, resolve_device, TrainConfig, training_kernels, training_losses


@dataclass
class TeacherFrame:
    """One frame letterboxed to the student's input, with the teacher's people (P may be 0)."""

    image: torch.Tensor          # (3, S, S) float in [0, 1]
    K: torch.Tensor              # (3, 3) of the letterboxed input
    global_orient: torch.Tensor  # (P, 3, 3)
    body_pose: torch.Tensor      # (P, 21, 3, 3)
    betas: torch.Tensor          # (P, 10)
    transl: torch.Tensor         # (P, 3)
    joints: torch.Tensor         # (P, 127, 3)
    vertices: torch.Tensor       # (P, V, 3)
    boxes: torch.Tensor          # (P, 4) letterboxed pixels


@dataclass
class PseudoBatch:
    """The fields of ``SyntheticBatch`` that the losses read, filled from teacher outputs."""

    images: torch.Tensor
    K: torch.Tensor
    valid: torch.Tensor
    detectable: torch.Tensor
    betas: torch.Tensor
    global_orient: torch.Tensor
    body_pose: torch.Tensor
    transl: torch.Tensor
    joints: torch.Tensor
    joints2d: torch.Tensor
    vertices: torch.Tensor
    boxes: torch.Tensor
    visible_boxes: torch.Tensor
    masks: torch.Tensor
    visible_fraction: torch.Tensor
    parts: Optional[torch.Tensor] = None


def teacher_frames(teacher, frames: Sequence, size: int, device) -> List[TeacherFrame]:
    """Run ``teacher`` (a Pipeline, or anything with ``process(image, K)``) on (image, K) pairs."""
    out = []
    for image, K in frames:
        res = teacher.process(image, K)
        img, lb = letterbox_torch(torch.from_numpy(np.ascontiguousarray(image)), size, normalize=False)
        K_lb = torch.as_tensor(lb.intrinsics_to_letterbox(K), dtype=torch.float32)
        people = res.people
        if people:
            aa_go = torch.tensor(np.stack([p.global_orient for p in people]), dtype=torch.float32)
            aa_bp = torch.tensor(np.stack([p.body_pose for p in people]), dtype=torch.float32)
            boxes = torch.as_tensor(lb.boxes_to_letterbox(np.stack([p.box_xyxy for p in people]).astype(np.float64)),
                                    dtype=torch.float32)
            if any(p.vertices is None for p in people):
                raise ValueError("the teacher must compute vertices (PipelineConfig.compute_vertices=True)")
            frame = TeacherFrame(
                image=img, K=K_lb, global_orient=axis_angle_to_matrix(aa_go), body_pose=axis_angle_to_matrix(aa_bp),
                betas=torch.tensor(np.stack([p.betas for p in people]), dtype=torch.float32),
                transl=torch.tensor(np.stack([p.transl for p in people]), dtype=torch.float32),
                joints=torch.tensor(np.stack([p.joints_3d for p in people]), dtype=torch.float32),
                vertices=torch.tensor(np.stack([p.vertices for p in people]), dtype=torch.float32),
                boxes=boxes)
        else:
            frame = TeacherFrame(img, K_lb, torch.zeros(0, 3, 3), torch.zeros(0, 21, 3, 3), torch.zeros(0, 10),
                                 torch.zeros(0, 3), torch.zeros(0, 127, 3), torch.zeros(0, 0, 3), torch.zeros(0, 4))
        out.append(frame)
    return out


def pseudo_batch(frames: Sequence[TeacherFrame], max_people: int, num_vertices: int, device) -> PseudoBatch:
    """Pad the teacher people of some frames into (B, P) slots."""
    B, P = len(frames), max_people
    size = frames[0].image.shape[-1]

    def pad(name, shape):
        t = torch.zeros(B, P, *shape)
        for b, f in enumerate(frames):
            v = getattr(f, name)[:P]
            if v.numel():
                t[b, :v.shape[0]] = v
        return t.to(device)

    valid = torch.zeros(B, P, dtype=torch.bool)
    for b, f in enumerate(frames):
        valid[b, :min(P, f.boxes.shape[0])] = True
    valid = valid.to(device)
    eye = torch.eye(3)
    go = pad("global_orient", (3, 3)) + (~valid)[..., None, None] * eye.to(device)
    bp = pad("body_pose", (21, 3, 3)) + (~valid)[..., None, None, None] * eye.to(device)
    joints = pad("joints", (127, 3))
    joints[..., 2] = torch.where(valid[..., None], joints[..., 2], torch.ones_like(joints[..., 2]))
    K = torch.stack([f.K for f in frames]).to(device)
    j2d = torch.einsum("bij,bpnj->bpni", K, joints / joints[..., 2:].clamp(min=1e-3))[..., :2]
    boxes = pad("boxes", (4,))
    boxes[..., 2:] = torch.maximum(boxes[..., 2:], boxes[..., :2] + 1.0)
    return PseudoBatch(
        images=torch.stack([f.image for f in frames]).to(device), K=K, valid=valid, detectable=valid,
        betas=pad("betas", (10,)), global_orient=go, body_pose=bp, transl=pad("transl", (3,)), joints=joints,
        joints2d=j2d, vertices=pad("vertices", (num_vertices, 3)), boxes=boxes, visible_boxes=boxes,
        masks=torch.zeros(B, P, size, size, dtype=torch.bool, device=device),
        visible_fraction=valid.float())


def distill(student: TrainModel, teacher, frames: Sequence, config: TrainConfig, body=None,
            on_log=None) -> dict:
    """Train ``student`` on ``teacher``'s outputs for the (image, K) ``frames``; returns a summary
    and writes ``config.out_dir``/model.safetensors and log.jsonl."""
    from ros_phmr.body import BodyModel
    from ros_phmr.demo import synthetic_model_path

    device = resolve_device(config.device)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = (body or BodyModel.from_file(synthetic_model_path())).to(device).eval()
    labels = teacher_frames(teacher, frames, student.image_size, device)
    if not any(f.boxes.shape[0] for f in labels):
        raise ValueError("the teacher found nobody in these frames: nothing to distil")
    student = student.to(device).train()
    freeze_unused(student)
    optimizer = torch.optim.AdamW(parameter_groups(student, config.weight_decay), lr=config.lr)
    use_amp = device.type == "cuda" and config.precision != "fp32"
    dtype = torch.bfloat16 if config.precision == "bf16" else torch.float16

    def amp():
        return torch.autocast(device.type, dtype=dtype, enabled=use_amp)

    generator = torch.Generator().manual_seed(config.seed)
    start = time.monotonic()
    history = []
    with (out_dir / "log.jsonl").open("w") as log:
        for step in range(config.steps):
            elapsed = time.monotonic() - start
            if config.time_budget_s > 0 and elapsed >= config.time_budget_s:
                break
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, elapsed)
            pick = torch.randint(0, len(labels), (config.batch_size,), generator=generator).tolist()
            batch = pseudo_batch([labels[i] for i in pick], config.max_people, body.v_template.shape[0], device)
            with training_kernels():
                losses = training_losses(student, batch, generator, body, amp, mask_rate=0.0)
                total = weighted_total(losses)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            row = {"step": step + 1, "total": float(total.detach()),
                   "losses": {k: float(v.detach()) for k, v in losses.items()}}
            history.append(row["total"])
            log.write(json.dumps(row) + "\n")
            if on_log and (step + 1) % config.log_every == 0:
                on_log(row)
    path = student.export(out_dir / "model.safetensors")
    return {"steps": len(history), "frames": len(labels), "first_loss": history[0], "last_loss": history[-1],
            "checkpoint": str(path), "time_s": round(time.monotonic() - start, 1)}
