"""Arguments and bodies of the ``ros-phmr train | eval | data | distill`` sub-commands."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="run folder: last.pt (resumable), model.safetensors, log.jsonl, loss.png")
    p.add_argument("--model", default="demo", help="new fused model size 'demo' or 'tiny', or a fused .safetensors to fine-tune")
    p.add_argument("--multihmr", help="fine-tune this Multi-HMR checkpoint (official or compact) instead")
    p.add_argument("--prompthmr", help="fine-tune this PromptHMR checkpoint (official or compact) instead")
    p.add_argument("--box-head", action="store_true",
                   help="give a fine-tuned detector without one a new box head (new fused models have one)")
    p.add_argument("--backbone-depth", type=int, default=0, metavar="N",
                   help="grow a fused model's backbone to N blocks first; the new blocks start as no-ops "
                   "(copies of their neighbours with zero LayerScale), so the model keeps what it learned")
    p.add_argument("--duplicate-radius", type=float, metavar="PATCHES",
                   help="save the detector with this duplicate radius: two neighbouring peaks are two people "
                   "unless their offset votes point at heads closer than this (0: plain 3x3 NMS; new fused "
                   "models: 0.5; every run trains the votes, loss det_votes)")
    p.add_argument("--duplicate-min-score", type=float, metavar="P",
                   help="save the detector with this rule too: a peak beside a higher one must score at least P "
                   "(new fused models: 0.6)")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--time-budget", type=float, default=0.0, help="seconds; stop and finish the schedule by then")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (per GPU with --gpus)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--loss-weight", action="append", default=[], metavar="TERM=W",
                   help="override one loss term's weight, e.g. aux_pose=0 (repeatable; names as in log.jsonl)")
    p.add_argument("--gpus", type=int, default=1, help="data-parallel processes on this host, one per GPU "
                   "(started through torchrun; the same as running this command under torchrun)")
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp16", "fp32"))
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-people", type=int, default=6)
    p.add_argument("--min-people", type=int, default=1)
    p.add_argument("--depth-range", type=float, nargs=2, default=(1.8, 9.0), metavar=("NEAR", "FAR"),
                   help="depth of the people in the synthetic scenes, metres (near people are larger: a curriculum "
                   "can start near and widen)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--eval", type=int, default=0, metavar="N", help="after training, evaluate on N held-out images")


def _fused_model(spec: str, seed: int, option: str):
    """A fresh fused model of a named size, or one read from a compact file."""
    from ros_phmr.model.fused import FusedModel
    from ros_phmr.train.model import FUSED_SIZES, TrainModel

    if spec in FUSED_SIZES:
        return TrainModel.new_fused(spec, seed)
    if not Path(spec).is_file():
        raise FileNotFoundError(f"{option}: not a size ({', '.join(FUSED_SIZES)}) nor a file: {spec}")
    return TrainModel.from_fused(FusedModel.from_compact(spec))


def parse_loss_weights(items) -> dict:
    """['aux_pose=0', ...] -> {'aux_pose': 0.0}."""
    weights = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            weight = float(value) if sep else None
        except ValueError:
            weight = None
        if weight is None:
            raise ValueError(f"--loss-weight wants TERM=WEIGHT, got {item!r}")
        weights[name.strip()] = weight
    return weights


def _without_gpus_option(argv: list) -> list:
    """The command line each per-GPU process runs: this one without --gpus N / --gpus=N."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--gpus":
            skip = True
        elif not item.startswith("--gpus="):
            out.append(item)
    return out


def run_train_command(args: argparse.Namespace) -> int:
    import os

    from ros_phmr.train.model import TrainModel
    from ros_phmr.train.trainer import TrainConfig, Trainer

    if args.gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {args.gpus}")
    loss_weights = parse_loss_weights(args.loss_weight)
    if args.gpus > 1 and "WORLD_SIZE" not in os.environ:
        from ros_phmr.train.distributed import launch

        return launch(args.gpus, _without_gpus_option(args.argv))
    if args.multihmr or args.prompthmr:
        model = TrainModel.from_checkpoints(args.multihmr, args.prompthmr)
    else:
        model = _fused_model(args.model, args.seed, "--model")
    if args.box_head:
        model.add_box_head_()
    if args.duplicate_radius is not None or args.duplicate_min_score is not None:
        model.set_duplicate_rule_(args.duplicate_radius, args.duplicate_min_score)
    if args.backbone_depth:
        model.deepen_backbone_(args.backbone_depth)
    config = TrainConfig(out_dir=args.out, steps=args.steps, time_budget_s=args.time_budget,
                         batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup,
                         precision=args.precision, device=args.device, seed=args.seed,
                         max_people=args.max_people, min_people=args.min_people,
                         depth_range=tuple(args.depth_range), checkpoint_every=args.checkpoint_every, resume=args.resume,
                         loss_weights=loss_weights)

    def show(row: dict) -> None:
        print(f"step {row['step']:>6}  {row['time_s']:>7.1f} s  lr {row['lr']:.2e}  loss {row['total']:.4f}", flush=True)

    trainer = Trainer(config, model)
    summary = trainer.run(on_log=show)
    if not trainer.is_main:   # rank 0 alone reports, writes the summary and evaluates
        return 0
    print(json.dumps({k: v for k, v in summary.items() if k != "last"}, indent=2))
    Path(args.out, "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.eval and model.detector is not None and model.decoder is not None:
        from ros_phmr.eval import format_metrics, run_eval

        metrics = run_eval(summary["checkpoint"], count=args.eval, device=args.device,
                           out_json=Path(args.out) / "eval.json")
        print(format_metrics(metrics))
    return 0


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="fused compact checkpoint (default: the shipped demo checkpoint)")
    p.add_argument("--images", type=int, default=500, help="held-out images (default 500)")
    p.add_argument("--prompt-images", type=int, default=200, help="two-person images for the box-prompt check")
    p.add_argument("--seed", type=int, default=None, help="default: the documented held-out seed")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="write the metrics here")


def run_eval_command(args: argparse.Namespace) -> int:
    from ros_phmr.eval import DEFAULT_SEED, format_metrics, run_eval

    seed = DEFAULT_SEED if args.seed is None else args.seed
    metrics = run_eval(args.checkpoint, count=args.images, seed=seed, prompt_count=args.prompt_images,
                       device=args.device, out_json=args.json)
    print(format_metrics(metrics))
    return 0


def add_probe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="fused compact checkpoint (default: the shipped demo checkpoint)")
    p.add_argument("--train-people", type=int, default=1200)
    p.add_argument("--test-people", type=int, default=192)
    p.add_argument("--depth-range", type=float, nargs=2, default=(1.8, 5.0), metavar=("NEAR", "FAR"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--lifting-steps", type=int, default=3000,
                   help="training steps of the MLP that lifts the true 2D joints (a reference; 0 skips it)")
    p.add_argument("--lifting-people", type=int, default=0,
                   help="train a larger lifting MLP on this many posed, unrendered people instead of the probe's "
                        "own (0: the probe's); 200000 with --lifting-steps 20000 takes about 30 minutes on 2 CPU cores")
    p.add_argument("--json", help="write the scores here")


def run_probe_command(args: argparse.Namespace) -> int:
    from ros_phmr.train.probe import format_probe, run_probe

    scores = run_probe(args.checkpoint, args.train_people, args.test_people, tuple(args.depth_range), args.seed,
                       args.device, lifting_steps=args.lifting_steps, lifting_people=args.lifting_people)
    print(format_probe(scores))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n")
    return 0


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder for NNNNNN.png + NNNNNN.npz (labels)")
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--seed", type=int, default=None, help="default: the documented held-out seed")
    p.add_argument("--device", default="cpu")


def run_data_command(args: argparse.Namespace) -> int:
    from ros_phmr.eval import DEFAULT_SEED, write_eval_set

    seed = DEFAULT_SEED if args.seed is None else args.seed
    out = write_eval_set(args.out, args.images, seed, args.device)
    print(f"wrote {args.images} labelled images to {out} (seed {seed})")
    return 0


def add_distill_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", required=True, help="teacher checkpoint: a fused compact file, or the PromptHMR one "
                   "(then also --teacher-multihmr)")
    p.add_argument("--teacher-multihmr", help="teacher Multi-HMR checkpoint when it is a separate file")
    p.add_argument("--smplx", default="", help="SMPL-X model for the teacher (default: the synthetic one)")
    p.add_argument("--data", required=True, help="unlabeled frames: a bag (.mcap/.db3/folder), a video or an image folder")
    p.add_argument("--image-topic", help="image topic of a bag")
    p.add_argument("--every", type=int, default=1, help="use every N-th frame")
    p.add_argument("--max-frames", type=int, default=2000)
    p.add_argument("--out", required=True)
    p.add_argument("--student", default="vit_s", help="student size: vit_s, vit_b, demo, tiny, or a fused .safetensors")
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--time-budget", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--precision", default="bf16", choices=("bf16", "fp16", "fp32"))
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)


def run_distill_command(args: argparse.Namespace) -> int:
    from ros_phmr.offline.sources import intrinsics_or_default, open_source
    from ros_phmr.pipeline import Pipeline, PipelineConfig
    from ros_phmr.train.distill import distill
    from ros_phmr.train.trainer import TrainConfig

    student = _fused_model(args.student, args.seed, "--student")
    teacher = Pipeline(PipelineConfig(prompthmr_checkpoint=args.teacher,
                                      multihmr_checkpoint=args.teacher_multihmr or args.teacher,
                                      smplx_model=args.smplx, device=args.device))
    source = open_source(args.data, image_topic=args.image_topic)
    frames = []
    try:
        for i, frame in enumerate(source):
            if i % max(args.every, 1) == 0:
                frames.append((frame.image, intrinsics_or_default(frame)))
            if len(frames) >= args.max_frames:
                break
    finally:
        source.close()
    if not frames:
        raise ValueError(f"no frames could be read from {args.data}")
    print(f"teacher: {teacher.describe()}; {len(frames)} frames from {args.data}", flush=True)
    config = TrainConfig(out_dir=args.out, steps=args.steps, time_budget_s=args.time_budget, batch_size=args.batch_size,
                         lr=args.lr, precision=args.precision, device=args.device, seed=args.seed)
    summary = distill(student, teacher, frames, config, body=teacher.body,
                      on_log=lambda r: print(f"step {r['step']:>6}  loss {r['total']:.4f}", flush=True))
    print(json.dumps(summary, indent=2))
    return 0
