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

    model = None
    if args.prompthmr or args.multihmr:
        from ros_phmr.demo import model_config_from_options

        model = model_config_from_options(args.prompthmr, args.multihmr, None, device=args.device)
    run_demo(frames=args.frames, out=args.out, smplx_path=args.smplx, seed=args.seed,
             progress=not args.quiet, model=model, estimates=not args.ground_truth_only)
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


def _model_config(args: argparse.Namespace):
    from ros_phmr.demo import model_config_from_options

    return model_config_from_options(args.prompthmr, args.multihmr, args.smplx, device=args.device,
                                     resolution=args.resolution, threshold=args.threshold,
                                     max_people=args.max_people)


def _cmd_live(args: argparse.Namespace) -> int:
    from ros_phmr.viz.live_loop import run_live

    try:
        run_live(args.source, _model_config(args), host=args.host, port=args.port,
                 scene_rate_hz=args.scene_rate, max_frames=args.max_frames)
    except OSError as err:
        if isinstance(err, FileNotFoundError):
            raise
        print(f"ros-phmr live: error: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


def _cmd_process(args: argparse.Namespace) -> int:
    from ros_phmr.offline.process import run_process

    try:
        run_process(str(args.input), args.output, _model_config(args), image_topic=args.image_topic,
                    camera_info_topic=args.camera_info_topic, fps=args.fps, max_frames=args.max_frames,
                    include_vertices=args.vertices, progress=not args.quiet, overwrite=args.overwrite)
    except FileExistsError as err:
        print(f"ros-phmr process: error: {err}", file=sys.stderr)
        return 1
    return 0


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """--prompthmr/--multihmr/--smplx like `infer`; none = the default demo model."""
    parser.add_argument("--prompthmr", type=Path, help="PromptHMR checkpoint (with --multihmr)")
    parser.add_argument("--multihmr", type=Path, help="Multi-HMR checkpoint (default: the shipped DEMO "
                                                      "checkpoint, trained on synthetic mannequins only)")
    parser.add_argument("--smplx", type=Path, help="SMPL-X file or folder (default: synthetic)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--resolution", type=int, default=0, help="PromptHMR input size (multiple of 14)")
    parser.add_argument("--threshold", type=float, default=0.3, help="detection threshold")
    parser.add_argument("--max-people", type=_positive_int, default=10)
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames (0 = all)")


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.suite == "tracking":
        from ros_phmr.bench.tracking_bench import bench_command

        return bench_command(args)
    if args.suite == "refine":
        from ros_phmr.bench.refine_bench import bench_command

        return bench_command(args)
    from ros_phmr.bench.cli_bench import run_bench_command

    return run_bench_command(args)


def _cmd_export(args: argparse.Namespace) -> int:
    from ros_phmr.runtime.export_cli import run_export_command

    return run_export_command(args)


def _cmd_train(args: argparse.Namespace) -> int:
    from ros_phmr.train.commands import run_train_command

    return run_train_command(args)


def _cmd_eval(args: argparse.Namespace) -> int:
    from ros_phmr.train.commands import run_eval_command

    return run_eval_command(args)


def _cmd_probe(args: argparse.Namespace) -> int:
    from ros_phmr.train.commands import run_probe_command

    return run_probe_command(args)


def _cmd_data(args: argparse.Namespace) -> int:
    from ros_phmr.train.commands import run_data_command

    return run_data_command(args)


def _cmd_distill(args: argparse.Namespace) -> int:
    from ros_phmr.train.commands import run_distill_command

    return run_distill_command(args)


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
                    "body model, runs the pipeline on the images and writes images, camera info, "
                    "ground-truth bodies and the estimates to an MCAP file.")
    demo.add_argument("--frames", type=_positive_int, default=60, help="number of frames (default 60)")
    demo.add_argument("--out", type=Path, default=Path("demo.mcap"), help="output MCAP path")
    demo.add_argument("--smplx", type=Path, default=None,
                      help="SMPL-X model file or folder (default: the generated synthetic model)")
    demo.add_argument("--seed", type=int, default=0, help="scene seed")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--prompthmr", type=Path, help="PromptHMR checkpoint for the estimates (with --multihmr)")
    demo.add_argument("--multihmr", type=Path,
                      help="Multi-HMR checkpoint (default: the shipped DEMO checkpoint, synthetic world only)")
    demo.add_argument("--device", default="auto", help="device for the estimates: auto, cpu, cuda")
    demo.add_argument("--ground-truth-only", action="store_true", help="record no estimates")
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

    live = sub.add_parser(
        "live", help="run the pipeline on a camera, video or the synthetic scene and serve Foxglove",
        description="No ROS needed: frames from a video file, a camera device index (0, 1, ...) or "
                    "'synthetic' go through the pipeline; connect Foxglove to ws://HOST:PORT.")
    live.add_argument("--source", required=True, help="VIDEO file, DEVICE index, or 'synthetic'")
    live.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default loopback; 0.0.0.0 exposes the unauthenticated server)")
    live.add_argument("--port", type=int, default=8765, help="WebSocket port (default 8765)")
    live.add_argument("--scene-rate", type=float, default=10.0, help="mesh updates per second (default 10)")
    _add_model_options(live)
    live.set_defaults(func=_cmd_live)

    process = sub.add_parser(
        "process", help="process a rosbag2, video or image folder into an MCAP with meshes",
        description="Runs the pipeline over every frame and writes an MCAP with the input images, "
                    "camera info, ros_phmr_msgs (ROS 2 CDR, plays with `ros2 bag play`) and the "
                    "Foxglove scene. Ctrl-C leaves a valid MCAP of the frames done.")
    process.add_argument("input", type=Path, help="rosbag2 folder, .mcap/.db3 file, video file or image folder")
    process.add_argument("-o", "--output", type=Path, required=True, help="output .mcap")
    process.add_argument("--image-topic", help="bag image topic (default: the only Image/CompressedImage topic)")
    process.add_argument("--camera-info-topic",
                         help="bag CameraInfo topic (default: the one beside the image topic; '' = none)")
    process.add_argument("--fps", type=float, help="frame rate for image folders (default 30) and videos "
                                                   "(default: the file's)")
    process.add_argument("--vertices", action="store_true", help="also put vertices into HumanMesh messages")
    process.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    process.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_model_options(process)
    process.set_defaults(func=_cmd_process)

    bench = sub.add_parser(
        "bench", help="time the pipeline (or a backbone) on synthetic camera frames",
        description="Runs the real pipeline on synthetic 1920x1080 frames with a forced number of "
                    "people; per-stage p50/p95/p99, end to end, frames/s and GPU memory. "
                    "--random-weights DIR writes official-size random checkpoints there.")
    from ros_phmr.bench.cli_bench import add_bench_arguments

    add_bench_arguments(bench)
    bench.add_argument("--suite", choices=("pipeline", "tracking", "refine"), default="pipeline",
                       help="pipeline (default); tracking: ids on generated walkers; refine: "
                            "contact refinement of two people (uses --device, --smplx, --json)")
    bench.add_argument("--sequences", type=_positive_int, default=20, help="tracking: walker sequences")
    bench.add_argument("--sequence-frames", type=_positive_int, default=300, help="tracking: frames each")
    bench.add_argument("--iterations", type=_positive_int, help="refine: Adam steps (default: the refiner's)")
    bench.add_argument("--repeats", type=_positive_int, default=10, help="refine: timed calls per scene")
    bench.set_defaults(func=_cmd_bench)

    export = sub.add_parser(
        "export", help="export the models to ONNX (checked with onnxruntime) or TensorRT engines",
        description="Static-shape ONNX of backbone+heads and of the decoder (position embedding "
                    "baked, people padded to --max-people with a mask), compared with torch; "
                    "with --backend tensorrt also fp16 engines, cached by model, GPU and version.")
    from ros_phmr.runtime.export_cli import add_export_arguments

    add_export_arguments(export)
    export.set_defaults(func=_cmd_export)

    from ros_phmr.train.commands import (add_data_arguments, add_distill_arguments, add_eval_arguments,
                                         add_probe_arguments, add_train_arguments)

    train = sub.add_parser(
        "train", help="train a fused detector+decoder model on synthetic scenes generated on the fly",
        description="Multi-HMR and PromptHMR losses on synthetic mannequin scenes made on the "
                    "training device; AdamW, mixed precision, resumable checkpoints, loss plot.")
    add_train_arguments(train)
    train.set_defaults(func=_cmd_train)
    evaluate = sub.add_parser(
        "eval", help="detection recall/precision, MPJPE, PA-MPJPE and box-prompt accuracy on a held-out synthetic set",
        description="Runs the pipeline on a seeded synthetic set (640x480, 1-6 people) and prints and "
                    "writes the metrics.")
    add_eval_arguments(evaluate)
    evaluate.set_defaults(func=_cmd_eval)
    probe = sub.add_parser(
        "probe", help="can a linear read-out of a fused model's backbone tokens find body pose (and heading)?",
        description="Ridge regression from the tokens under each synthetic person's box to its root-relative "
                    "joints (PA-MPJPE) and heading, against references: the mean pose, the same read-out of the "
                    "true 2D joints and an MLP lifting them. Tells a backbone without pose features from heads that fail to read them.")
    add_probe_arguments(probe)
    probe.set_defaults(func=_cmd_probe)
    data = sub.add_parser("data", help="write the held-out synthetic set (PNG + labels) to a folder")
    add_data_arguments(data)
    data.set_defaults(func=_cmd_data)
    distill = sub.add_parser(
        "distill", help="train a fast fused student to reproduce a teacher's outputs on unlabeled recordings",
        description="The teacher pipeline labels the frames of a bag, video or image folder once; the "
                    "student (shared ViT backbone, detector head, promptable decoder) learns from them.")
    add_distill_arguments(distill)
    distill.set_defaults(func=_cmd_distill)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv   # train --gpus N starts one copy of this command per GPU
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
