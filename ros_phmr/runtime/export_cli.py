"""Arguments and body of ``ros-phmr export`` (heavy imports happen lazily)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_export_arguments(export: argparse.ArgumentParser) -> None:
    export.add_argument("--backend", choices=("onnx", "tensorrt"), default="onnx")
    export.add_argument("--profile", choices=("prompthmr+multihmr", "prompthmr", "multihmr"),
                        default="prompthmr+multihmr")
    export.add_argument("--prompthmr", type=Path, help="PromptHMR checkpoint")
    export.add_argument("--multihmr", type=Path, help="Multi-HMR checkpoint")
    export.add_argument("--smplx", type=Path, help="SMPL-X file or folder (default: synthetic)")
    export.add_argument("--resolution", type=int, default=0, help="PromptHMR input size (0 = 896)")
    export.add_argument("--max-people", type=int, default=20, help="padded people dimension")
    export.add_argument("--width", type=int, default=1920, help="camera image width (for K)")
    export.add_argument("--height", type=int, default=1080, help="camera image height (for K)")
    export.add_argument("--device", default="cpu", help="device for the torch reference and export")
    export.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    export.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")


def run_export_command(args: argparse.Namespace) -> int:
    from ros_phmr.runtime.export import export_profile

    report = export_profile(
        args.out, profile=args.profile, prompthmr_checkpoint=str(args.prompthmr or ""),
        multihmr_checkpoint=str(args.multihmr or ""), smplx_model=str(args.smplx or ""),
        resolution=args.resolution, max_people=args.max_people, image_size=(args.width, args.height),
        device=args.device, check=not args.no_check, tensorrt=args.backend == "tensorrt")
    for name, entry in report["graphs"].items():
        error = entry.get("max_abs_error")
        print(f"  {name:<10s} {entry['path']}" + ("" if error is None else f"  max abs error vs torch {error:.3g}"))
    for name, entry in report.get("engines", {}).items():
        print(f"  engine {name:<10s} {entry}")
    return 0
