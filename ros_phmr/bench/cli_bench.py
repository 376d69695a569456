"""Arguments and body of ``ros-phmr bench`` (kept out of cli.py; heavy imports happen lazily)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_bench_arguments(bench: argparse.ArgumentParser) -> None:
    bench.add_argument("--profile", choices=("prompthmr+multihmr", "prompthmr", "multihmr"),
                       default="prompthmr+multihmr")
    bench.add_argument("--prompthmr", type=Path, help="PromptHMR checkpoint")
    bench.add_argument("--multihmr", type=Path, help="Multi-HMR checkpoint")
    bench.add_argument("--smplx", type=Path, help="SMPL-X file or folder (default: synthetic)")
    bench.add_argument("--random-weights", type=Path, metavar="DIR",
                       help="write (or reuse) random official-size checkpoints in DIR")
    bench.add_argument("--detector", default="S:672",
                       help="Multi-HMR backbone:resolution for --random-weights (default S:672)")
    bench.add_argument("--backend", choices=("torch", "onnx", "tensorrt"), default="torch")
    bench.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="bf16")
    bench.add_argument("--resolution", type=int, default=0, help="PromptHMR input size (0 = 896)")
    bench.add_argument("--people", type=_positive_int, nargs="+", default=[1, 5, 20])
    bench.add_argument("--frames", type=_positive_int, default=100, help="timed frames per run")
    bench.add_argument("--warmup", type=int, default=10, help="untimed frames first (reported)")
    bench.add_argument("--mode", choices=("stages", "e2e"), nargs="+", default=["stages", "e2e"],
                       help="stages: sync after each stage; e2e: no syncs in between")
    bench.add_argument("--width", type=_positive_int, default=1920)
    bench.add_argument("--height", type=_positive_int, default=1080)
    bench.add_argument("--device", default="auto")
    bench.add_argument("--no-graphs", action="store_true", help="eager torch, no CUDA graphs")
    bench.add_argument("--no-vertices", action="store_true", help="do not read vertices back")
    bench.add_argument("--backbone", metavar="ARCH",
                       help="time only a DINOv2 backbone (vit_small, vit_base, vit_large)")
    bench.add_argument("--sdpa", choices=("default", "flash", "cudnn", "efficient"),
                       default="default", help="attention kernel for --backbone")
    bench.add_argument("--compile", action="store_true",
                       help="torch.compile the backbones and the stages around them (preprocessing, detector heads, decoder, SMPL-X)")
    bench.add_argument("--json", type=Path, help="write the results as JSON")
    bench.add_argument("--plot", type=Path, help="PNG of the stage breakdown against people")


def run_bench_command(args: argparse.Namespace) -> int:
    if args.backbone:
        from ros_phmr.bench.backbone_bench import bench_backbone

        result = bench_backbone(args.backbone, args.resolution or 896, args.precision,
                                graphs=not args.no_graphs, compile=args.compile, sdpa=args.sdpa,
                                device="cuda" if args.device == "auto" else args.device)
        print(f"{result['arch']}/{result['resolution']} {result['precision']}: p50 {result['p50_ms']:.3f} ms, "
              f"p99 {result['p99_ms']:.3f} ms, {result['tflops']:.0f} TFLOP/s")
    else:
        from ros_phmr.bench.pipeline_bench import BenchConfig, plot_stages, run_bench, summary_table

        paths = {"prompthmr_checkpoint": str(args.prompthmr or ""),
                 "multihmr_checkpoint": str(args.multihmr or ""), "smplx_model": str(args.smplx or "")}
        if args.random_weights:
            from ros_phmr.bench.random_weights import bench_checkpoints

            paths = bench_checkpoints(args.random_weights, args.detector,
                                      prompthmr=args.profile != "multihmr")
        cfg = BenchConfig(profile=args.profile, backend=args.backend, precision=args.precision,
                          resolution=args.resolution, people=tuple(args.people), frames=args.frames,
                          warmup=args.warmup, modes=tuple(args.mode), device=args.device,
                          cuda_graphs=not args.no_graphs, compile=args.compile,
                          compute_vertices=not args.no_vertices,
                          width=args.width, height=args.height,
                          extra={"random_weights": bool(args.random_weights),
                                 "detector": args.detector if args.random_weights else ""},
                          **paths)
        def save(partial: dict) -> None:
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(partial, indent=1))

        result = run_bench(cfg, log=lambda line: print(line, flush=True), save=save)
        print(summary_table(result), flush=True)
        if args.plot:
            print(f"plot: {plot_stages(result, args.plot)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0
