"""``ros-phmr probe``: does a fused model's backbone encode body pose at all?

A ridge regression from the backbone tokens under each person's box (sampled on a fixed
ROI_ROWS x ROI_COLS grid, so the layout inside the box is kept) to the person's root-relative
joints in camera axes, scored by PA-MPJPE as ``ros-phmr eval`` scores the model, and, as a
positive control, to its heading. References bracket the score: the training set's mean
body-frame pose, turned to each person's true orientation (PA-MPJPE ignores the turn: all the
orientation and none of the articulation); the same ridge fed the ground-truth 2D joints inside
the box (a backbone that knew exactly where every joint is, read linearly); and optionally a
small MLP lifting those joints, or a larger one trained on many posed but unrendered people
(what a perfect 2D keypoint front end could reach). Why: a model whose pose
PA-MPJPE sits at the mean pose's can fail in its heads or in its backbone; this tells which, and
is cheap (one synthetic person per image, no training of the model). Camera axes, not the body
frame: removing the orientation is far from linear in what an image shows (even exact 3D joints
read linearly into the body frame score about 58 mm against 94 for the mean pose), so a
body-frame probe under-reads every backbone.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ros_phmr.eval import BODY_JOINTS, joint_errors
from ros_phmr.geometry.projection import project_points

ROI_ROWS, ROI_COLS = 6, 3
RIDGE_WEIGHTS = (1e1, 1e2, 1e3, 1e4)
PATCH = 14
LIFTING_LR = 1e-3
# The lifter trained on many posed people (--lifting-people): wider, deeper, a decaying learning rate.
LARGE_LIFTER = dict(hidden=1024, layers=3, batch=512, decay=True)
LIFTING_TEST_PEOPLE = 2000


def roi_features(tokens: torch.Tensor, boxes: torch.Tensor, image_size: int) -> torch.Tensor:
    """tokens (B, N, D) of a square image (N = (S/14)^2, a leading class token is skipped),
    boxes (B, 4) xyxy pixels -> (B, D * ROI_ROWS * ROI_COLS) bilinear samples on a grid over each box."""
    B, _, D = tokens.shape
    grid = image_size // PATCH
    fmap = tokens[:, -grid * grid:].transpose(1, 2).reshape(B, D, grid, grid)          # (B, D, g, g)
    fy = torch.linspace(0, 1, ROI_ROWS, device=boxes.device)
    fx = torch.linspace(0, 1, ROI_COLS, device=boxes.device)
    x0, y0, x1, y1 = (boxes / image_size * 2 - 1).unbind(-1)                           # [-1, 1], align_corners=False
    ys = y0[:, None] + (y1 - y0)[:, None] * fy                                         # (B, R)
    xs = x0[:, None] + (x1 - x0)[:, None] * fx                                         # (B, C)
    where = torch.stack([xs[:, None, :].expand(-1, ROI_ROWS, -1), ys[:, :, None].expand(-1, -1, ROI_COLS)], -1)
    return F.grid_sample(fmap.float(), where, align_corners=False).flatten(1)           # (B, D*R*C)


class ProbeSet(NamedTuple):
    """One split of probe data, a row per person (numpy)."""

    features: np.ndarray     # (N, F) what is read: backbone ROI samples
    pose: np.ndarray         # (N, 66) root-relative joints, camera axes: the regression target
    body_pose: np.ndarray    # (N, 66) the same in the body frame: for the mean-pose reference
    heading: np.ndarray      # (N, 2)
    joints2d: Optional[np.ndarray] = None   # (N, 44) true 2D joints in box units: the other reference


def probe_targets(global_orient: torch.Tensor, joints: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """global_orient (B, 3, 3), joints (B, J, 3) camera frame -> root-relative body joints in
    camera axes (B, 66), the same in the body frame (B, 66), and the heading (B, 2): the body's
    forward axis on the camera's x-z plane."""
    rel = joints[:, :BODY_JOINTS] - joints[:, :1]
    body_frame = torch.einsum("bji,bkj->bki", global_orient, rel)                      # R^T (J - pelvis)
    forward = global_orient[:, :, 2]
    return (rel.reshape(len(rel), -1), body_frame.reshape(len(rel), -1),
            torch.stack([forward[:, 0], forward[:, 2]], -1))


def joints_in_box(joints2d: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """joints2d (B, J, 2) pixels, boxes (B, 4) xyxy -> (B, 44) body joints in box units (0..1
    across the box): the reference features of a backbone that knew where every joint is."""
    size = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0)
    return ((joints2d[:, :BODY_JOINTS] - boxes[:, None, :2]) / size[:, None]).flatten(1)


def ridge(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, weight: float) -> np.ndarray:
    """Ridge regression on standardised features -> predictions for test_x."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / std, (test_x - mean) / std
    y_mean = train_y.mean(0)
    coef = np.linalg.solve(a.T @ a + weight * np.eye(a.shape[1]), a.T @ (train_y - y_mean))
    return b @ coef + y_mean


def lifted_2d_pose_pa_mpjpe(train: ProbeSet, test: ProbeSet, steps: int, hidden: int = 512, layers: int = 2,
                            batch: int = 256, decay: bool = False, seed: int = 0) -> float:
    """PA-MPJPE (mm) of an MLP (``layers`` hidden ReLU layers, L1, Adam; ``decay``: a one-cycle
    learning rate) trained to lift the true 2D joints in the box to the camera-axes pose: roughly
    the best a perfect 2D keypoint front end with a learned lifter does in this world, an upper
    reference for any image model's pose."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.as_tensor(train.joints2d, dtype=torch.float32)
    y = torch.as_tensor(train.pose, dtype=torch.float32)
    widths = [x.shape[1]] + [hidden] * layers
    net = torch.nn.Sequential(*[m for a, b in zip(widths[:-1], widths[1:]) for m in (torch.nn.Linear(a, b), torch.nn.ReLU())],
                              torch.nn.Linear(hidden, y.shape[1]))
    optimizer = torch.optim.Adam(net.parameters(), lr=LIFTING_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LIFTING_LR, total_steps=steps) if decay else None
    for _ in range(steps):
        rows = torch.randint(0, len(x), (min(batch, len(x)),), generator=generator)
        loss = (net(x[rows]) - y[rows]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
    with torch.no_grad():
        pred = net(torch.as_tensor(test.joints2d, dtype=torch.float32)).double().numpy()
    return pose_pa_mpjpe(pred, test.pose)


@torch.no_grad()
def posed_people(maker, people: int, generator: torch.Generator, chunk: int = 4096) -> ProbeSet:
    """``people`` of the synthetic world (``maker``: one person per image) placed, posed and
    projected but not rendered: data for the lifting reference at a scale no rendered probe set
    reaches. Boxes are those of the projected meshes; ``features`` are the 2D joints in them."""
    def chunk_rows(n: int):
        posed = maker.pose(n, generator)
        uv = project_points(torch.cat([posed.joints[:, :BODY_JOINTS], posed.vertices], 1), posed.layout.K)  # (n, 22+V, 2)
        boxes = torch.cat([uv[:, BODY_JOINTS:].amin(1), uv[:, BODY_JOINTS:].amax(1)], -1)                  # (n, 4)
        joints2d = joints_in_box(uv[:, :BODY_JOINTS], boxes)
        return (joints2d, *probe_targets(posed.global_orient, posed.joints), joints2d)

    return _probe_set(people, chunk, chunk_rows)


def _probe_set(people: int, chunk: int, chunk_rows) -> ProbeSet:
    """``people`` rows made ``chunk`` at a time by ``chunk_rows(n)`` -> the ProbeSet's five (n, ...) tensors."""
    rows = []
    made = 0
    while made < people:
        n = min(chunk, people - made)
        rows.append([t.double().cpu().numpy() for t in chunk_rows(n)])
        made += n
    return ProbeSet(*(np.concatenate(column) for column in zip(*rows)))


def heading_error_deg(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Absolute angle (degrees) between (N, 2) heading vectors."""
    diff = np.arctan2(pred[:, 0], pred[:, 1]) - np.arctan2(true[:, 0], true[:, 1])
    return np.degrees(np.abs(np.angle(np.exp(1j * diff))))


def pose_pa_mpjpe(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean PA-MPJPE (mm) of (N, 66) joint sets."""
    return float(np.mean([joint_errors(p.reshape(-1, 3), t.reshape(-1, 3))[1] for p, t in zip(pred, true)]))


def probe_scores(train: ProbeSet, test: ProbeSet) -> dict:
    """The best ridge weight's scores, the mean-pose reference and (when the sets carry true 2D
    joints) the same read-out of those."""
    rows = []
    for weight in RIDGE_WEIGHTS:
        pose = pose_pa_mpjpe(ridge(train.features, train.pose, test.features, weight), test.pose)
        heading = float(np.median(heading_error_deg(ridge(train.features, train.heading, test.features, weight),
                                                    test.heading)))
        rows.append({"ridge_weight": weight, "pose_pa_mpjpe_mm": pose, "heading_error_deg": heading})
    mean_pose = pose_pa_mpjpe(np.broadcast_to(train.body_pose.mean(0), test.body_pose.shape), test.body_pose)
    scores = {"pose_pa_mpjpe_mm": min(r["pose_pa_mpjpe_mm"] for r in rows),
              "mean_pose_pa_mpjpe_mm": mean_pose,
              "heading_error_deg": min(r["heading_error_deg"] for r in rows),
              "chance_heading_error_deg": 90.0, "by_ridge_weight": rows}
    if train.joints2d is not None and test.joints2d is not None:
        reference = probe_scores(train._replace(features=train.joints2d, joints2d=None),
                                 test._replace(features=test.joints2d, joints2d=None))
        scores["true_2d_joints_pose_pa_mpjpe_mm"] = reference["pose_pa_mpjpe_mm"]
    return scores


@torch.no_grad()
def _dataset(model, maker, people: int, generator: torch.Generator, batch: int) -> ProbeSet:
    from ros_phmr.train.trainer import normalise_images

    def chunk_rows(n: int):
        data = maker.make(n, generator)
        tokens = model.detector.tokens(normalise_images(data.images, generator))
        features = roi_features(tokens, data.boxes[:, 0], model.image_size)
        joints2d = joints_in_box(data.joints2d[:, 0], data.boxes[:, 0])
        return (features, *probe_targets(data.global_orient[:, 0], data.joints[:, 0]), joints2d)

    return _probe_set(people, batch, chunk_rows)


def run_probe(checkpoint: Optional[str] = None, train_people: int = 1200, test_people: int = 192,
              depth_range=(1.8, 5.0), seed: int = 0, device: str = "auto", batch: int = 16,
              lifting_steps: int = 3000, lifting_people: int = 0) -> dict:
    """Probe a fused compact checkpoint (default: the shipped demo checkpoint); ``lifting_steps``
    > 0 adds the MLP lifting reference (CPU, about a minute at 3000). It learns from the probe's
    training people, or with ``lifting_people`` > 0 a larger MLP learns from that many posed,
    unrendered people and is tested on LIFTING_TEST_PEOPLE more: what exact 2D joints allow in
    this world given plenty of data."""
    from ros_phmr.body import BodyModel
    from ros_phmr.demo import synthetic_model_path
    from ros_phmr.runtime.device import resolve_device
    from ros_phmr.synthetic.dataset import SyntheticBatchMaker
    from ros_phmr.train.commands import _fused_model

    if train_people < 2 or test_people < 1:
        raise ValueError(f"need at least 2 training and 1 test people, got {train_people}, {test_people}")
    if lifting_steps < 0 or lifting_people < 0:
        raise ValueError(f"lifting_steps and lifting_people must be >= 0, got {lifting_steps}, {lifting_people}")
    if checkpoint is None:
        from ros_phmr.data import demo_checkpoint_path

        checkpoint = str(demo_checkpoint_path())
    dev = resolve_device(device)
    model = _fused_model(checkpoint, seed, "--checkpoint").to(dev).eval()
    if model.detector is None:
        raise ValueError("the probe reads a fused model's backbone tokens; this checkpoint has no detector backbone")
    body = BodyModel.from_file(synthetic_model_path()).to(dev)
    maker = SyntheticBatchMaker(body, model.image_size, model.image_size, max_people=1, letterbox=True,
                                depth_range=tuple(depth_range))
    train = _dataset(model, maker, train_people, torch.Generator().manual_seed(seed), batch)
    test = _dataset(model, maker, test_people, torch.Generator().manual_seed(seed + 1), batch)
    scores = probe_scores(train, test)
    if lifting_steps and lifting_people:
        lift_train = posed_people(maker, lifting_people, torch.Generator().manual_seed(seed + 2))
        lift_test = posed_people(maker, LIFTING_TEST_PEOPLE, torch.Generator().manual_seed(seed + 3))
        scores["true_2d_joints_lifted_pose_pa_mpjpe_mm"] = lifted_2d_pose_pa_mpjpe(
            lift_train, lift_test, lifting_steps, seed=seed, **LARGE_LIFTER)
    elif lifting_steps:
        scores["true_2d_joints_lifted_pose_pa_mpjpe_mm"] = lifted_2d_pose_pa_mpjpe(train, test, lifting_steps, seed=seed)
    scores.update(checkpoint=str(checkpoint), train_people=train_people, test_people=test_people,
                  lifting_people=lifting_people or train_people, depth_range=list(depth_range),
                  features=int(train.features.shape[1]))
    return scores


def format_probe(s: dict) -> str:
    lifted = s.get("true_2d_joints_lifted_pose_pa_mpjpe_mm")
    return "\n".join([
        f"linear probe on the backbone tokens ({s['train_people']} training, {s['test_people']} test people, "
        f"{s['features']} features)",
        f"heading: median error {s['heading_error_deg']:.0f} deg (chance {s['chance_heading_error_deg']:.0f})",
        f"pose: PA-MPJPE {s['pose_pa_mpjpe_mm']:.1f} mm (training-set mean body pose {s['mean_pose_pa_mpjpe_mm']:.1f} mm, "
        f"true 2D joints read the same way {s['true_2d_joints_pose_pa_mpjpe_mm']:.1f} mm)",
    ] + ([f"true 2D joints lifted by an MLP ({s['lifting_people']} training people): PA-MPJPE {lifted:.1f} mm"]
         if lifted is not None else []))
