"""Losses of the two papers, on our networks' raw outputs.

Detector (Multi-HMR): CenterNet focal loss on the head-token score map, L1 on the sub-token
offset, and for the regression head (queried at the ground-truth head tokens): rotations,
shape, normalised log-depth, root-relative 3D joints and vertices, 2D reprojection, the
absolute head position and, for a detector with a box head, the box edges. Decoder (PromptHMR): rotations, shape, root-relative 3D joints and
vertices, 2D reprojection, translation and log/inverse depth.

All terms are means over people (or tokens), so their weights do not depend on the batch size.
The body model runs in fp32 outside autocast.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from ros_phmr.geometry.rotations import rot6d_to_matrix
from ros_phmr.model.multihmr.detection import Detections
from ros_phmr.model.multihmr.model import place_bodies
from ros_phmr.train.targets import BODY_JOINTS, HEAD_JOINT, DecoderSelection, DetectorTargets, joint_heat_targets

VERTEX_STRIDE = 8         # every 8th vertex in the vertex loss
CANONICAL_FOCAL = 1000.0  # PromptHMR's translation head works at a 1000 px focal
MIN_INVERSE_DEPTH = 1e-3  # 1000 m at the canonical focal

DETECTOR_WEIGHTS = {"aux_heat": 1.0, "aux_parts": 1.0, "aux_pose": 5.0, "aux_shape": 0.3, "det_focal": 1.0, "det_offset": 1.0, "det_rot": 1.0, "det_hands": 0.1, "det_betas": 0.3,
                    "det_depth": 2.0, "det_j3d": 5.0, "det_verts": 2.0, "det_j2d": 10.0, "det_position": 1.0, "det_box": 1.0, "det_votes": 1.0}
MIN_BOX_SIDE = 8.0        # px: the box loss's normaliser for tiny (clipped) boxes
DECODER_WEIGHTS = {"dec_rot": 1.0, "dec_betas": 0.3, "dec_j3d": 5.0, "dec_verts": 2.0, "dec_j2d": 10.0,
                   "dec_transl": 5.0, "dec_logdepth": 2.0}


def focal_loss(logits: torch.Tensor, heat: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """CenterNet focal loss (alpha 2, beta 4) from logits (B, N); heat (B, N) = 1 at centres; weight
    (B, N) or anything that broadcasts to it."""
    logits = logits.float()
    log_p, log_1mp = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = log_p.exp()
    pos = (heat >= 0.999).float()
    pos_loss = -((1 - p) ** 2) * log_p * pos
    neg_loss = -((1 - heat) ** 4) * (p ** 2) * log_1mp * (1 - pos)
    num_pos = pos.sum().clamp(min=1.0)
    return ((pos_loss + neg_loss) * weight).sum() / num_pos


def part_token_targets(parts: torch.Tensor, patch: int = 14) -> torch.Tensor:
    """parts (B, S, S) long body joint per pixel (-1 none) -> (B, N, 23) share of each token's
    pixels per class (0 = background, 1 + joint)."""
    B, H, W = parts.shape
    grid_w = W // patch
    rows = torch.arange(H, device=parts.device) // patch
    cols = torch.arange(W, device=parts.device) // patch
    token = (rows[:, None] * grid_w + cols[None, :]).expand(B, H, W)            # (B, S, S)
    index = token * (BODY_JOINTS + 1) + (parts + 1)
    counts = torch.zeros(B, (H // patch) * grid_w * (BODY_JOINTS + 1), device=parts.device)
    counts.scatter_add_(1, index.reshape(B, -1), torch.ones(B, H * W, device=parts.device))
    counts = counts.view(B, -1, BODY_JOINTS + 1)
    return counts / counts.sum(-1, keepdim=True).clamp(min=1.0)


def part_loss(logits: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
    """Dense auxiliary supervision of the backbone: which body part each token shows (soft
    cross-entropy). Trains much faster than the per-person heads alone; not part of the model."""
    target = part_token_targets(parts)
    return -(target * F.log_softmax(logits.float(), -1)).sum(-1).mean()


def joint_heat_loss(logits: torch.Tensor, joints2d: torch.Tensor, valid: torch.Tensor, image_size: int) -> torch.Tensor:
    """Dense 2D keypoint supervision of the backbone: per token and body joint, is that joint
    there (focal loss against token-level Gaussian heat maps, as the detector's head map).
    Why: regressing pose from scratch sits on a long plateau at the mean pose, while heat maps
    are the local, spatial signal keypoint networks learn quickly; a backbone that knows where
    each joint is gives the heads something to lift to 3D. Not part of the model.

    logits (B, N, 22) token x joint scores; joints2d (B, P, J, 2) pixels; valid (B, P)."""
    heat = joint_heat_targets(joints2d, valid, image_size, logits.shape[-1])   # (B, N, 22)
    return focal_loss(logits.flatten(1), heat.flatten(1), heat.new_ones(()))   # every token counts


def token_owner(masks: torch.Tensor, patch: int = 14, min_share: float = 0.3):
    """masks (B, P, S, S) visible pixels per person -> (owner (B, N) long slot covering most of
    each token, owned (B, N) bool: that slot covers at least ``min_share`` of the token)."""
    share = F.avg_pool2d(masks.float(), patch).flatten(2)                     # (B, P, N)
    best, owner = share.max(1)
    return owner, best >= min_share


def dense_body_loss(pose_pred: torch.Tensor, shape_pred: torch.Tensor, masks: torch.Tensor,
                    joints: torch.Tensor, betas: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Dense auxiliary supervision of the backbone: every token a person covers regresses that
    person's root-relative body joints (metres, camera axes) and shape. Why: from scratch the
    per-person heads see pose gradients only through attention they have not learned yet; this
    asks the backbone for pose features directly (not exported). In a 440 s H200 comparison on
    2026-11-21 it made no measurable difference either way (see data/demo_checkpoint_eval.json).

    pose_pred (B, N, 66), shape_pred (B, N, 10), masks (B, P, S, S), joints (B, P, J, 3), betas (B, P, 10)."""
    owner, owned = token_owner(masks)
    rel = (joints[:, :, :BODY_JOINTS] - joints[:, :, :1]).flatten(2)          # (B, P, 66)
    target_pose = rel.gather(1, owner[..., None].expand(-1, -1, rel.shape[-1]))       # (B, N, 66)
    target_shape = betas.gather(1, owner[..., None].expand(-1, -1, betas.shape[-1]))  # (B, N, 10)
    weight = owned.float()
    count = weight.sum().clamp(min=1.0)
    pose = ((pose_pred.float() - target_pose).abs().mean(-1) * weight).sum() / count
    shape = ((shape_pred.float() - target_shape).abs().mean(-1) * weight).sum() / count
    return {"aux_pose": pose, "aux_shape": shape}


def _masked_mean(value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of value (M, ...) over rows where mask (M,) is True (0 when none)."""
    mask = mask.float()
    per_row = value.reshape(value.shape[0], -1).mean(-1)
    return (per_row * mask).sum() / mask.sum().clamp(min=1.0)


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """points (M, J, 3), K (M, 3, 3) -> (M, J, 2)."""
    z = points[..., 2:].clamp(min=0.1)
    return torch.einsum("mij,mnj->mni", K, points / z)[..., :2]


def _pose_terms(prefix: str, joints, verts, gt_joints, gt_verts, K, image_size: int) -> Dict[str, torch.Tensor]:
    """Per-person (M,) root-relative joint / vertex and 2D terms."""
    rel = joints[:, :BODY_JOINTS] - joints[:, :1]
    gt_rel = gt_joints[:, :BODY_JOINTS] - gt_joints[:, :1]
    vr = verts[:, ::VERTEX_STRIDE] - joints[:, :1]
    gvr = gt_verts[:, ::VERTEX_STRIDE] - gt_joints[:, :1]
    uv = _project(joints[:, :BODY_JOINTS], K) / image_size
    gt_uv = _project(gt_joints[:, :BODY_JOINTS], K) / image_size
    return {f"{prefix}_j3d": (rel - gt_rel).abs().mean((1, 2)),
            f"{prefix}_verts": (vr - gvr).abs().mean((1, 2)),
            f"{prefix}_j2d": (uv - gt_uv).abs().clamp(max=0.5).mean((1, 2))}


def detector_losses(detector, tokens: torch.Tensor, K: torch.Tensor, batch, targets: DetectorTargets,
                    body) -> Dict[str, torch.Tensor]:
    """detector: MultiHMRNet; tokens (B, N, D) of its backbone; batch: SyntheticBatch at its input size."""
    logits = detector.mlp_classif(tokens)[..., 0]                               # (B, N)
    losses = {"det_focal": focal_loss(logits, targets.heat, targets.weight)}
    votes = (detector.mlp_offset(tokens).float() - targets.vote_offset).abs().sum(-1)   # (B, N)
    losses["det_votes"] = (votes * targets.vote_weight).sum() / (2 * targets.vote_weight.sum()).clamp(min=1.0)
    positive = targets.positive
    detections = Detections(token_index=targets.token, scores=positive.float(), valid=positive,
                            num_candidates=positive.sum(1))
    out = detector.regress(tokens, K, detections, logits.detach().sigmoid())
    size = detector.config.image_size
    with torch.autocast(tokens.device.type, enabled=False):
        out.pose6d, out.cam, out.offset = out.pose6d.float(), out.cam.float(), out.offset.float()
        out.rotmat, out.betas, out.expression = out.rotmat.float(), out.betas.float(), out.expression.float()
        out = place_bodies(body, out, HEAD_JOINT)
        mask = positive.reshape(-1)
        flat = lambda t: t.reshape(-1, *t.shape[2:])  # noqa: E731
        gt_rot = torch.cat([batch.global_orient[:, :, None], batch.body_pose], 2)   # (B, P, 22, 3, 3)
        rot = out.rotmat.float()
        losses["det_rot"] = _masked_mean(flat((rot[:, :, :22] - gt_rot).abs()), mask)
        hands = torch.cat([body.hands_mean_left, body.hands_mean_right], 0)         # (30, 3, 3)
        losses["det_hands"] = _masked_mean(flat((rot[:, :, 22:52] - hands).abs()), mask)
        losses["det_betas"] = _masked_mean(flat((out.betas.float() - batch.betas).abs()), mask)
        focal = K[:, 0, 0, None]
        head_z = batch.joints[:, :, HEAD_JOINT, 2].clamp(min=0.1)
        target_cam = torch.log(head_z) * detector.config.reference_focal / focal
        losses["det_depth"] = _masked_mean(flat((out.cam[..., 0].float() - target_cam).abs()), mask)
        losses["det_offset"] = _masked_mean(flat((out.offset.float() - targets.offset).abs()), mask)
        Kp = K[:, None].expand(-1, positive.shape[1], -1, -1)
        terms = _pose_terms("det", flat(out.joints), flat(out.vertices), flat(batch.joints), flat(batch.vertices),
                            flat(Kp), size)
        for name, value in terms.items():
            losses[name] = _masked_mean(value, mask)
        position = (out.joints[:, :, 0] - batch.joints[:, :, 0]).abs()
        losses["det_position"] = _masked_mean(flat(position), mask)
        if out.box is not None:
            losses["det_box"] = _masked_mean(flat(box_error(out.box.float(), batch.boxes)), mask)
    return losses


def box_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 of each xyxy edge (..., 4) over the target box's width / height: the same miss costs
    as much on a far, small person as on a near one."""
    wh = (target[..., 2:] - target[..., :2]).clamp(min=MIN_BOX_SIDE)  # (..., 2)
    return (pred - target).abs() / torch.cat([wh, wh], -1)


def decoder_losses(decoder, embeddings: torch.Tensor, K: torch.Tensor, batch, selection: DecoderSelection,
                   body, image_size: int) -> Dict[str, torch.Tensor]:
    """decoder: PromptHMRNet; embeddings (B, D, h, w) from its image/camera encoders."""
    out = decoder.decode(embeddings, K, selection.prompts)
    b, s = selection.image_index, selection.slot
    n = b.shape[0]
    with torch.autocast(embeddings.device.type, enabled=False):
        rot = rot6d_to_matrix(out["pose_6d"].float().view(n, 22, 6), "rows")   # (N, 22, 3, 3)
        betas = out["betas"].float()
        # Translation re-decoded with the inverse depth kept positive (1/x is unbounded near 0).
        focal = K[b, 0, 0]
        inv_depth = out["depth_c"].float()[:, 0]
        depth = 1.0 / inv_depth.clamp(min=MIN_INVERSE_DEPTH)
        offset = out["transl_c"].float()
        transl = torch.stack([offset[:, 0] * depth, offset[:, 1] * depth, depth * focal / CANONICAL_FOCAL], -1)
        posed = body(rot[:, 0], rot[:, 1:], betas, transl=transl, **body.mean_hands(n))
        gt_rot = torch.cat([batch.global_orient[b, s][:, None], batch.body_pose[b, s]], 1)
        ones = torch.ones(n, dtype=torch.bool, device=rot.device)
        losses = {"dec_rot": _masked_mean((rot - gt_rot).abs(), ones),
                  "dec_betas": _masked_mean((betas - batch.betas[b, s]).abs(), ones)}
        terms = _pose_terms("dec", posed.joints, posed.vertices, batch.joints[b, s], batch.vertices[b, s], K[b], image_size)
        losses.update({k: v.mean() for k, v in terms.items()})
        # PromptHMR's own parameterisation: (tx, ty) * f / (1000 tz) and inverse depth f / (1000 tz).
        gt_t = batch.transl[b, s]
        gt_inv = focal / (CANONICAL_FOCAL * gt_t[:, 2].clamp(min=0.1))
        losses["dec_transl"] = (offset - gt_t[:, :2] * gt_inv[:, None]).abs().mean()
        losses["dec_logdepth"] = ((torch.log(inv_depth.clamp(min=MIN_INVERSE_DEPTH)) - torch.log(gt_inv)).abs()
                                  + F.relu(MIN_INVERSE_DEPTH - inv_depth) / MIN_INVERSE_DEPTH).mean()
    return losses


def weighted_total(losses: Dict[str, torch.Tensor], overrides: Optional[Dict[str, float]] = None) -> torch.Tensor:
    """Sum of the terms with the papers' weights (``overrides`` replaces some by name)."""
    weights = {**DETECTOR_WEIGHTS, **DECODER_WEIGHTS, **(overrides or {})}
    return sum(weights.get(k, 1.0) * v for k, v in losses.items())


def check_loss_weights(overrides: Dict[str, float]) -> Dict[str, float]:
    """Refuse unknown term names and negative weights (a typo would silently train wrong)."""
    known = {**DETECTOR_WEIGHTS, **DECODER_WEIGHTS}
    for name, value in overrides.items():
        if name not in known:
            raise ValueError(f"unknown loss term {name!r}; known: {', '.join(sorted(known))}")
        if not value >= 0:
            raise ValueError(f"loss weight {name} must be >= 0, got {value}")
    return dict(overrides)
