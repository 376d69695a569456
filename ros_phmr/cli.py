"""The ``ros-phmr`` command: one entry point for the library's jobs.

Each sub-command imports its implementation lazily, so ``ros-phmr --help`` stays instant and
a missing optional dependency only affects the command that needs it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _cmd_demo(args: argparse.Namespace) -> int:
    from ros_phmr.demo import run_demo

    run_demo(frames=args.frames, out=args.out, smplx_path=args.smplx, seed=args.seed,
             progress=not args.quiet)
    return 0


def _cmd_assets(args: argparse.Namespace) -> int:
    from ros_phmr.assets import write_assets

    start = time.perf_counter()
    written = write_assets(args.out, size=args.size, seed=args.seed)
    for label, path in written.items():
        print(f"  {label:<28} {path}")
    print(f"wrote {len(written)} asset(s) to {args.out} in {time.perf_counter() - start:.1f} s "
          "(SYNTHETIC body model and RANDOM-WEIGHT checkpoints: for tests and demos, not for use)")
    return 0


def _cmd_infer(args: argparse.Namespace) -> int:
    from ros_phmr.infer import run_infer

    run_infer(args)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from ros_phmr.model.compact import convert_checkpoints

    start = time.perf_counter()
    out = convert_checkpoints(args.out, args.prompthmr, args.multihmr, half=args.fp16,
                              text_tower=not args.no_text, body_buffers=not args.no_body)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in "
          f"{time.perf_counter() - start:.1f} s; the source checkpoints' licences apply to it")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ros_phmr.bench.cli_bench import run_bench_command

    return run_bench_command(args)


def _cmd_export(args: argparse.Namespace) -> int:
    from ros_phmr.runtime.export_cli import run_export_command

    return run_export_command(args)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ros-phmr",
        description="Live, metric, multi-person, promptable SMPL-X human meshes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="render a synthetic scene and write an MCAP that Foxglove opens",
        description="Renders mannequins moving in front of a camera with the embedded synthetic "
                    "body model and writes images, camera info and bodies to an MCAP file.")
    demo.add_argument("--frames", type=_positive_int, default=60, help="number of frames (default 60)")
    demo.add_argument("--out", type=Path, default=Path("demo.mcap"), help="output MCAP path")
    demo.add_argument("--smplx", type=Path, default=None,
                      help="SMPL-X model file or folder (default: the generated synthetic model)")
    demo.add_argument("--seed", type=int, default=0, help="scene seed")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_cmd_demo)

    assets = sub.add_parser(
        "assets", help="write the synthetic SMPL-X-format model and random-weight checkpoints",
        description="Deterministic test and demo assets: a synthetic body model in the SMPL-X "
                    "file format and random-weight checkpoints in the official layouts.")
    assets.add_argument("--out", type=Path, required=True, help="output folder")
    assets.add_argument("--size", choices=("tiny", "full"), default="tiny",
                        help="checkpoint size: tiny for tests, full for official dimensions")
    assets.add_argument("--seed", type=int, default=0, help="random seed")
    assets.set_defaults(func=_cmd_assets)

    infer = sub.add_parser(
        "infer", help="estimate SMPL-X people in one image and write JSON",
        description="One image in, per-person SMPL-X parameters, 3D/2D joints and boxes out. "
                    "--text and --masks take one value per box ('' for none).")
    infer.add_argument("image", type=Path, help="image file (PNG, JPEG, ...)")
    infer.add_argument("--prompthmr", type=Path, help="PromptHMR checkpoint.ckpt")
    infer.add_argument("--multihmr", type=Path, help="Multi-HMR .pt checkpoint")
    infer.add_argument("--smplx", type=Path, help="SMPL-X file or folder (default: synthetic)")
    infer.add_argument("--boxes", nargs="+", metavar="X1,Y1,X2,Y2", help="box prompts in pixels; a box starting with '-' must be "
                            "written --boxes=-5,10,90,200")
    infer.add_argument("--text", nargs="+", metavar="TEXT", help="a text prompt per box")
    infer.add_argument("--masks", nargs="+", metavar="PNG", help="a binary mask PNG per box")
    infer.add_argument("--interaction", action="store_true",
                       help="the prompted people interact (cross-person attention)")
    infer.add_argument("--focal", type=float, help="focal length in pixels (default: diagonal)")
    infer.add_argument("--fov", type=float, help="horizontal field of view in degrees")
    infer.add_argument("--resolution", type=int, default=0,
                       help="PromptHMR input size (multiple of 14; default 896)")
    infer.add_argument("--threshold", type=float, default=0.3, help="detection threshold")
    infer.add_argument("--max-people", type=_positive_int, default=10)
    infer.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    infer.add_argument("--json", type=Path, required=True, help="output JSON path")
    infer.add_argument("--obj", type=Path, help="folder for one OBJ mesh per person")
    infer.set_defaults(func=_cmd_infer)

    convert = sub.add_parser(
        "convert", help="convert official checkpoints to ros_phmr's compact safetensors file",
        description="One .safetensors file with the PromptHMR and/or Multi-HMR weights and their "
                    "settings as JSON: no pickle, optionally fp16, optionally without the CLIP "
                    "text tower. Every --prompthmr/--multihmr option accepts the result.")
    convert.add_argument("--prompthmr", type=Path, help="PromptHMR checkpoint.ckpt")
    convert.add_argument("--multihmr", type=Path, help="Multi-HMR .pt checkpoint")
    convert.add_argument("-o", "--out", type=Path, required=True, help="output .safetensors")
    convert.add_argument("--fp16", action="store_true", help="store weight matrices as fp16")
    convert.add_argument("--no-text", action="store_true", help="leave out the CLIP text tower")
    convert.add_argument("--no-body", action="store_true",
                         help="leave out PromptHMR's SMPL-X buffers (then pass --smplx)")
    convert.set_defaults(func=_cmd_convert)

    bench = sub.add_parser(
        "bench", help="time the pipeline (or a backbone) on synthetic camera frames",
        description="Runs the real pipeline on synthetic 1920x1080 frames with a forced number of "
                    "people; per-stage p50/p95/p99, end to end, frames/s and GPU memory. "
                    "--random-weights DIR writes official-size random checkpoints there.")
    from ros_phmr.bench.cli_bench import add_bench_arguments

    add_bench_arguments(bench)
    bench.set_defaults(func=_cmd_bench)

    export = sub.add_parser(
        "export", help="export the models to ONNX (checked with onnxruntime) or TensorRT engines",
        description="Static-shape ONNX of backbone+heads and of the decoder (position embedding "
                    "baked, people padded to --max-people with a mask), compared with torch; "
                    "with --backend tensorrt also fp16 engines, cached by model, GPU and version.")
    from ros_phmr.runtime.export_cli import add_export_arguments

    add_export_arguments(export)
    export.set_defaults(func=_cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"ros-phmr {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ros-phmr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
