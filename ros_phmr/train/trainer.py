"""The training loop: synthetic batches made on the fly on the training device, both heads'
losses, AdamW with warm-up and cosine decay (over steps or a wall-clock budget, whichever ends
first), bf16/fp16 autocast, periodic checkpoints (resumable), a JSON-lines log and a loss plot.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ros_phmr.geometry.letterbox import IMAGENET_MEAN, IMAGENET_STD
from ros_phmr.runtime.device import resolve_device
from ros_phmr.synthetic.dataset import SyntheticBatchMaker, check_depth_range
from ros_phmr.train.distributed import DataParallel
from ros_phmr.train.losses import (check_loss_weights, decoder_losses, dense_body_loss, detector_losses,
                                  joint_heat_loss, part_loss, weighted_total)
from ros_phmr.train.model import TrainModel, freeze_unused, parameter_groups
from ros_phmr.train.plot import plot_losses
from ros_phmr.train.targets import HEAD_JOINT, decoder_prompts, detector_targets

DATA_SEED_STRIDE = 1_000_003   # rank r draws batches from seed + r * stride
STATE_FILE = "last.pt"
LOG_FILE = "log.jsonl"
EXPORT_FILE = "model.safetensors"
PLOT_FILE = "loss.png"


@dataclass
class TrainConfig:
    out_dir: str
    steps: int = 2000
    time_budget_s: float = 0.0      # 0: no limit; else stop (and finish the schedule) by then
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 200
    precision: str = "bf16"         # bf16 | fp16 | fp32 (autocast on CUDA only)
    device: str = "auto"
    seed: int = 0
    max_people: int = 6
    min_people: int = 1
    depth_range: Tuple[float, float] = (1.8, 9.0)   # people's depth in the synthetic scenes, metres
    subdivisions: int = 4
    log_every: int = 25
    checkpoint_every: int = 500
    resume: bool = False
    loss_weights: Dict[str, float] = field(default_factory=dict)   # term name -> weight, overriding the defaults

    def __post_init__(self):
        if self.precision not in ("bf16", "fp16", "fp32"):
            raise ValueError(f"precision must be bf16, fp16 or fp32, got {self.precision!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        self.loss_weights = check_loss_weights(self.loss_weights)
        self.depth_range = check_depth_range(self.depth_range)


def normalise_images(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, S, S) in [0, 1] -> ImageNet-normalised, after a random slight blur (the pipeline's
    letterbox resamples camera images with antialiasing) and uint8 quantisation."""
    B = images.shape[0]
    sigma = (torch.rand(B, generator=generator, device=generator.device) * 1.0).to(images.device)  # 0..1 px
    taps = torch.arange(-1, 2, device=images.device).float()
    k = torch.exp(-taps[None] ** 2 / (2 * sigma[:, None].clamp(min=0.05) ** 2))
    k = k / k.sum(-1, keepdim=True)                                            # (B, 3)
    kernel = (k[:, :, None] * k[:, None, :])                                   # (B, 3, 3)
    x = images.reshape(1, B * 3, *images.shape[-2:])
    weight = kernel.repeat_interleave(3, 0)[:, None]                           # (B*3, 1, 3, 3)
    x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=B * 3).view_as(images)
    x = torch.round(x.clamp(0, 1) * 255) / 255
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def training_losses(model: TrainModel, batch, generator: torch.Generator, body, amp, mask_rate: float = 0.3) -> dict:
    """All losses of one batch (SyntheticBatch at the model's input size, or a distillation
    PseudoBatch: no part labels, no masks)."""
    size = model.image_size
    images = normalise_images(batch.images, generator)
    K = batch.K
    losses = {}
    tokens = None
    with amp():
        if model.detector is not None:
            tokens = model.detector.tokens(images)                           # (B, N, D)
            if batch.parts is not None:
                losses["aux_parts"] = part_loss(model.aux_parts(tokens), batch.parts)
                losses["aux_heat"] = joint_heat_loss(model.aux_heat(tokens), batch.joints2d, batch.valid, size)
                losses.update(dense_body_loss(model.aux_pose(tokens), model.aux_shape(tokens), batch.masks,
                                              batch.joints, batch.betas))
            head_z = batch.joints[:, :, HEAD_JOINT, 2]
            targets = detector_targets(batch.joints2d, batch.valid, batch.detectable, head_z, size)
            losses.update(detector_losses(model.detector, tokens, K, batch, targets, body))
        if model.decoder is not None:
            net = model.decoder
            if model.shared and tokens is not None:
                grid = size // 14
                emb = net.cam_encoder(net.image_encoder.from_tokens(tokens, grid, grid), K)
            else:
                emb = net.encode_images(images, K)
            chosen = batch.valid & (batch.visible_fraction >= 0.08)
            if bool(chosen.any()):
                selection = decoder_prompts(batch.boxes, batch.visible_boxes, batch.masks, chosen, size, generator,
                                            mask_rate=mask_rate, mask_only_rate=0.05 if mask_rate else 0.0)
                losses.update(decoder_losses(net, emb, K, batch, selection, body, size))
    return losses


# Attention kernels for training. cuDNN's attention builds an execution plan for every new input
# shape, and the decoder's and the HPH's attention see a new number of people in every batch. Fused
# demo model, batch 192: 330 -> 240 ms a step without them on a one-GPU H200 host, 250 -> 228 ms in
# 4-GPU runs. The flash and memory-efficient kernels need no plan; the math one is the CPU's fallback.
TRAINING_ATTENTION = (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH)


@contextlib.contextmanager
def training_kernels():
    """Inside: float32 matrix products on TF32 tensor cores (the losses' SMPL-X runs in float32
    outside autocast) and attention without cuDNN's per-shape plans; restored after. Labels are
    made before, in full float32."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        with sdpa_kernel(list(TRAINING_ATTENTION)):
            yield
    finally:
        torch.set_float32_matmul_precision(before)


def learning_rate(config: TrainConfig, step: int, elapsed_s: float) -> float:
    progress = step / config.steps
    if config.time_budget_s > 0:
        progress = max(progress, elapsed_s / config.time_budget_s)
    warm = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    return config.lr * warm * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class Trainer:
    """``Trainer(config, model).run()``; ``model`` defaults to a new fused demo-size model.

    Under torchrun (or ``ros-phmr train --gpus N``) every process trains on batches of its own
    (``batch_size`` per process) and gradients are averaged; rank 0 alone writes the run folder.
    """

    def __init__(self, config: TrainConfig, model: Optional[TrainModel] = None, body=None,
                 parallel: Optional[DataParallel] = None):
        from ros_phmr.body import BodyModel
        from ros_phmr.demo import synthetic_model_path

        self.config = config
        self.parallel = parallel if parallel is not None else DataParallel.from_env()
        self.device = resolve_device(config.device)
        if self.parallel:
            self.device = self.parallel.start(self.device)
        self.is_main = self.parallel is None or self.parallel.is_main
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.model = (model or TrainModel.new_fused("demo", config.seed)).to(self.device).train()
        freeze_unused(self.model)
        if self.parallel:
            self.parallel.broadcast_parameters(self.model)
        self.body = (body or BodyModel.from_file(synthetic_model_path())).to(self.device).eval()
        size = self.model.image_size
        self.maker = SyntheticBatchMaker(self.body, size, size, max_people=config.max_people,
                                         min_people=config.min_people, letterbox=True,
                                         subdivisions=config.subdivisions, depth_range=config.depth_range)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, config.weight_decay), lr=config.lr,
                                           betas=(0.9, 0.98))
        cuda = self.device.type == "cuda"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[config.precision]
        self.use_amp = cuda and self.amp_dtype is not None
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and config.precision == "fp16")
        self.rank = self.parallel.rank if self.parallel else 0
        self.generator = torch.Generator().manual_seed(config.seed + DATA_SEED_STRIDE * self.rank)
        self.step = 0
        self.data_time_s = 0.0    # host-side time spent making batches (no device sync: a lower bound)
        if config.resume and (self.out_dir / STATE_FILE).is_file():
            self._load_state(self.out_dir / STATE_FILE)

    def _amp(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.use_amp)

    def _save_state(self) -> Path:
        path = self.out_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        torch.save({"step": self.step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "scaler": self.scaler.state_dict(), "generator": self.generator.get_state(),
                    "config": asdict(self.config)}, tmp)
        tmp.replace(path)
        return path

    def _load_state(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        if self.parallel:   # the file holds rank 0's stream; the others draw fresh batches of their own
            self.generator.manual_seed(self.config.seed + DATA_SEED_STRIDE * self.rank + self.step)
        else:
            self.generator.set_state(state["generator"])

    def train_step(self) -> tuple:
        """One optimisation step -> (total loss, {term: value}) as Python floats."""
        cfg = self.config
        made = time.monotonic()
        batch = self.maker.make(cfg.batch_size, self.generator)
        self.data_time_s += time.monotonic() - made
        with training_kernels():
            losses = training_losses(self.model, batch, self.generator, self.body, self._amp)
            total = weighted_total(losses, cfg.loss_weights)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(total).backward()
        if self.parallel:   # before unscaling: every rank then sees the same overflow and skips alike
            self.parallel.average_gradients(self.model.parameters())
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return total, losses

    def _elapsed(self, start: float) -> float:
        """Seconds since ``start``; in a parallel run the slowest rank's, so that every rank takes
        the same learning rate and stops at the same step."""
        elapsed = time.monotonic() - start
        return self.parallel.largest(elapsed, self.device) if self.parallel else elapsed

    def run(self, on_log: Optional[Callable[[dict], None]] = None) -> dict:
        """Train until ``steps`` or the time budget; returns a summary (paths, steps, last losses).
        Only rank 0 writes the log, checkpoints, export and plot."""
        cfg = self.config
        start = time.monotonic()
        log = (self.out_dir / LOG_FILE).open("a") if self.is_main else None
        last = {}
        try:
            while self.step < cfg.steps:
                elapsed = self._elapsed(start)
                if cfg.time_budget_s > 0 and elapsed >= cfg.time_budget_s:
                    break
                lr = learning_rate(cfg, self.step, elapsed)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                total, losses = self.train_step()
                self.step += 1
                if log is not None and (self.step % cfg.log_every == 0 or self.step == 1):
                    last = {"step": self.step, "time_s": round(time.monotonic() - start, 2), "lr": lr,
                            "data_s": round(self.data_time_s, 2), "total": float(total.detach()),
                            "losses": {k: float(v.detach()) for k, v in losses.items()}}
                    if self.parallel:
                        last["processes"] = self.parallel.world_size
                    log.write(json.dumps(last) + "\n")
                    log.flush()
                    if on_log:
                        on_log(last)
                if self.is_main and self.step % cfg.checkpoint_every == 0:
                    self._save_state()
                    self.model.export(self.out_dir / EXPORT_FILE)
        finally:
            if log is not None:
                log.close()
        summary = {"steps": self.step, "train_time_s": round(time.monotonic() - start, 1),
                   "checkpoint": str(self.out_dir / EXPORT_FILE), "state": str(self.out_dir / STATE_FILE),
                   "plot": None, "last": last, "processes": self.parallel.world_size if self.parallel else 1}
        if self.is_main:
            self._save_state()
            self.model.export(self.out_dir / EXPORT_FILE)
            if last:
                try:
                    summary["plot"] = str(plot_losses(self.out_dir / LOG_FILE, self.out_dir / PLOT_FILE))
                except ImportError:  # matplotlib is the optional 'plot' extra
                    print("loss plot skipped: matplotlib is not installed (pip install ros_phmr[plot])")
        if self.parallel:
            self.parallel.stop()
        return summary
