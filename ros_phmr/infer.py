"""``ros-phmr infer``: one image in, per-person SMPL-X parameters, joints and boxes out as JSON.

The command-line face of :class:`ros_phmr.pipeline.Pipeline`. Prompts given here are strict:
a box with x2 <= x1, a mask of another size than the image or a text list of the wrong length
is an error, not a drop, because a person typed it. Boxes partly outside the image are
clipped, as the model's own preprocessing does, with a note on stderr.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from ros_phmr.geometry.camera import default_intrinsics, validate_intrinsics
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import PromptStore, check_box


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; FileNotFoundError / ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ValueError(f"{path} is not an image OpenCV can read")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def parse_box(text: str) -> np.ndarray:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"box {text!r} must be x1,y1,x2,y2 numbers") from None
    if len(values) != 4:
        raise ValueError(f"box {text!r} must have 4 numbers x1,y1,x2,y2, got {len(values)}")
    return np.array(values)


def read_mask(path: str, width: int, height: int) -> np.ndarray:
    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"mask {path} is not an image OpenCV can read")
    if mask.shape != (height, width):
        raise ValueError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]}, the image is "
                         f"{width}x{height}; masks must have the image's size")
    return mask > 127


def build_prompts(boxes: list[str], texts: list[str] | None, masks: list[str] | None,
                  interaction: bool, width: int, height: int):
    """FramePrompts with person ids 0..N-1 in the order the boxes were given."""
    count = len(boxes)
    for name, values in (("--text", texts), ("--masks", masks)):
        if values is not None and len(values) != count:
            raise ValueError(f"{name} takes one value per box ({count}), got {len(values)}; "
                             "use an empty string '' for none")
    store = PromptStore(expire_after_s=1.0)
    for i, text in enumerate(boxes):
        box, drop = check_box(parse_box(text), width, height)
        if box is None:
            raise ValueError(f"box {i} ({text}): {drop.detail}")
        if drop is not None:
            print(f"note: box {i}: {drop.detail}", file=sys.stderr)
        store.set_box(i, 0, box)
        if texts and texts[i].strip():
            store.set_text(i, 0, texts[i])
        if masks and masks[i]:
            store.set_mask(i, 0, read_mask(masks[i], width, height))
    if interaction:
        if count < 2:
            raise ValueError("--interaction needs at least two boxes")
        store.set_interaction(0, [(a, b) for a in range(count) for b in range(a + 1, count)])
    prompts, drops = store.for_frame(0, width, height)
    if drops:
        raise ValueError("; ".join(map(str, drops)))
    return prompts


def intrinsics(width: int, height: int, focal: float | None, fov: float | None) -> np.ndarray:
    if focal is not None and fov is not None:
        raise ValueError("give --focal or --fov, not both")
    if fov is not None:
        return default_intrinsics(width, height, "fov", fov)
    K = default_intrinsics(width, height, "diagonal")
    if focal is not None:
        K[0, 0] = K[1, 1] = focal
    return validate_intrinsics(K, width, height)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")


def run_infer(args) -> dict:
    image = read_image(args.image)
    height, width = image.shape[:2]
    if args.prompthmr and args.multihmr:
        profile = "prompthmr+multihmr"
    elif args.prompthmr:
        profile = "prompthmr"
    elif args.multihmr:
        profile = "multihmr"
    else:
        raise ValueError("give --prompthmr CKPT and/or --multihmr CKPT (official files, or "
                         "`ros-phmr assets --out DIR` for random-weight stand-ins)")
    if profile == "prompthmr" and not args.boxes:
        raise ValueError("PromptHMR alone needs prompts: give --boxes (or add --multihmr)")
    if (args.text or args.masks or args.interaction) and not args.boxes:
        raise ValueError("--text, --masks and --interaction attach to --boxes; give boxes too")
    prompts = build_prompts(args.boxes or [], args.text, args.masks, args.interaction, width,
                            height)
    K = intrinsics(width, height, args.focal, args.fov)
    pipeline = Pipeline(PipelineConfig(
        profile=profile, prompthmr_checkpoint=str(args.prompthmr or ""),
        multihmr_checkpoint=str(args.multihmr or ""), smplx_model=str(args.smplx or ""),
        resolution=args.resolution, device=args.device, max_people=args.max_people,
        detection_threshold=args.threshold))
    result = pipeline.process(image, K, prompts)
    report = {
        "image": str(args.image), "width": width, "height": height, "profile": profile,
        "body_model": pipeline.model_name, "K": K.tolist(),
        "timings_ms": {k: round(v * 1e3, 3) for k, v in result.timings.items()},
        "people": [{
            "id": p.track_id, "score": p.score, "box_xyxy": p.box_xyxy.tolist(),
            "prompt_kinds": p.prompt_kinds,
            "global_orient": p.global_orient.tolist(), "body_pose": p.body_pose.tolist(),
            "left_hand_pose": p.left_hand_pose.tolist(),
            "right_hand_pose": p.right_hand_pose.tolist(), "jaw_pose": p.jaw_pose.tolist(),
            "betas": p.betas.tolist(), "expression": p.expression.tolist(),
            "transl": p.transl.tolist(), "joints_3d": p.joints_3d.tolist(),
            "joints_2d": p.joints_2d.tolist()} for p in result.people],
    }
    Path(args.json).write_text(json.dumps(report, indent=1))
    if args.obj:
        out = Path(args.obj)
        out.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(result.people):
            write_obj(out / f"person_{i:02d}_id{p.track_id}.obj", p.vertices, pipeline.faces)
    print(f"{len(result.people)} people -> {args.json}"
          + (f" (meshes in {args.obj})" if args.obj else ""))
    return report
