"""Static-shape ONNX export of the pipeline's networks, checked against torch with onnxruntime.

Three graphs per profile (what TensorRT builds engines from, e.g. on a Jetson):

* ``detector``: Multi-HMR backbone + detection + HPH at its resolution, ``max_people`` slots
  (top-k with a validity output, threshold baked in); SMPL-X stays in torch (fp32 skinning).
* ``encoder``: PromptHMR backbone + neck + camera-ray conditioning (or, with a backbone shared
  with the detector, the neck and conditioning on the detector's tokens).
* ``decoder``: prompt encoding + two-way decoder for ``max_people`` people: boxes (P, 5) in
  model-input pixels with confidence (0 = padding) and a validity mask (P,) that zeroes the
  outputs of padded rows.

Shapes are static: the position embedding is resized once for the resolution and baked in as
a constant (its bicubic resize never enters the graph), ray features are computed from the K
input, and no operator depends on the data's values for its output shape.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import time
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ros_phmr.model.prompthmr.prompts import PersonPrompts

OPSET = 17  # LayerNormalization as one op (fp16-safe in TensorRT)
PATCH = 14


class DetectorGraph(nn.Module):
    """Multi-HMR network without its body model: (image, K) -> per-slot parameters."""

    def __init__(self, net: nn.Module, threshold: float, max_people: int):
        super().__init__()
        self.net, self.threshold, self.max_people = net, float(threshold), int(max_people)

    def forward(self, image: torch.Tensor, K: torch.Tensor):
        """image (1, 3, S, S) normalised, K (1, 3, 3) of the model input."""
        tokens = self.net.tokens(image)  # (1, N, D)
        found, score_map = self.net.detect(tokens, self.threshold, max_people=self.max_people)
        out = self.net.regress(tokens, K, found, score_map)
        outputs = (out.valid.float(), out.scores.float(), out.rotmat.float(), out.betas.float(),
                   out.expression.float(), out.head_position.float(), tokens)
        return outputs if out.box is None else outputs + (out.box.float(),)


DETECTOR_OUTPUTS = ("valid", "scores", "rotmat", "betas", "expression", "head_position", "tokens")


def detector_outputs(net: nn.Module) -> Tuple[str, ...]:
    """Output names of ``DetectorGraph(net)``: a box head adds ``box`` (P, 4) input pixels."""
    return DETECTOR_OUTPUTS + (("box",) if net.config.box_head else ())


class EncoderGraph(nn.Module):
    """PromptHMR image encoder + camera conditioning: (image, K) -> (1, D, S/14, S/14)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        return self.model.net.encode_images(image, K)


class TokenEncoderGraph(nn.Module):
    """The neck + camera conditioning on a shared backbone's tokens (1, N, Dv)."""

    def __init__(self, model: nn.Module, grid: int):
        super().__init__()
        self.model, self.grid = model, grid

    def forward(self, tokens: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        net = self.model.net
        return net.cam_encoder(net.image_encoder.from_tokens(tokens, self.grid, self.grid), K)


class DecoderGraph(nn.Module):
    """Prompts + decoder for a fixed number of people: -> pose_6d, betas, transl (P, ...)."""

    def __init__(self, model: nn.Module, max_people: int):
        super().__init__()
        self.model, self.max_people = model, int(max_people)

    def forward(self, embeddings: torch.Tensor, K: torch.Tensor, boxes: torch.Tensor, valid: torch.Tensor):
        """embeddings (1, D, h, w), K (1, 3, 3), boxes (P, 5) model-input pixels + confidence,
        valid (P,) 1/0."""
        index = torch.zeros(self.max_people, dtype=torch.long, device=boxes.device)
        prompts = PersonPrompts(boxes=boxes, image_index=index, masks=None, texts=None,
                                interaction=False, num_images=1)
        out = self.model.net.decode(embeddings, K, prompts)
        keep = valid[:, None]
        return out["pose_6d"] * keep, out["betas"] * keep, out["transl"] * keep


DECODER_OUTPUTS = ("pose_6d", "betas", "transl")


def _export(module: nn.Module, args: Tuple[torch.Tensor, ...], path: Path, inputs, outputs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks of the models read static sizes while tracing: expected, not a problem
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, args, str(path), input_names=list(inputs), output_names=list(outputs),
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    return path


def onnxruntime_outputs(path: Path, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Run an exported graph with onnxruntime on the CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def compare(torch_out: Dict[str, torch.Tensor], onnx_out: Dict[str, np.ndarray]) -> float:
    """Max abs difference over the outputs both sides have."""
    errors = [float(np.abs(torch_out[k].detach().cpu().numpy() - onnx_out[k]).max())
              for k in torch_out if k in onnx_out]
    return max(errors) if errors else float("nan")


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def example_inputs(size: int, width: int, height: int, seed: int = 0):
    """A letterboxed random image (1, 3, S, S) and its K (1, 3, 3) for a width x height camera."""
    from ros_phmr.geometry.camera import default_intrinsics
    from ros_phmr.geometry.letterbox import letterbox_torch

    rng = np.random.default_rng(seed)
    frame = torch.from_numpy(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    image, box = letterbox_torch(frame, size)
    K = torch.as_tensor(box.intrinsics_to_letterbox(default_intrinsics(width, height)), dtype=torch.float32)
    return image[None], K[None], box


def example_boxes(count: int, max_people: int, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``count`` real boxes then "no box" padding up to max_people -> (boxes (P, 5), valid (P,))."""
    boxes = torch.zeros(max_people, 5)
    boxes[:, 2:4] = size
    for i in range(count):
        x = (i + 0.5) * size / max(count, 1)
        boxes[i] = torch.tensor([x - 0.1 * size, 0.2 * size, x + 0.1 * size, 0.9 * size, 1.0])
    valid = (torch.arange(max_people) < count).float()
    return boxes, valid


def export_profile(out_dir, profile: str = "prompthmr+multihmr", prompthmr_checkpoint: str = "",
                   multihmr_checkpoint: str = "", smplx_model: str = "", resolution: int = 0,
                   max_people: int = 20, image_size: Tuple[int, int] = (1920, 1080), device: str = "cpu",
                   check: bool = True, tensorrt: bool = False, detection_threshold: float = 0.3) -> dict:
    """Export the profile's graphs into ``out_dir``; with ``check`` compare each with torch
    (max abs error); with ``tensorrt`` also build fp16 engines (ros_phmr.runtime.tensorrt).

    Returns a report (also written as ``out_dir/export.json``)."""
    from ros_phmr.pipeline import Pipeline, PipelineConfig

    out = Path(out_dir)
    pipe = Pipeline(PipelineConfig(profile=profile, prompthmr_checkpoint=prompthmr_checkpoint,
                                   multihmr_checkpoint=multihmr_checkpoint, smplx_model=smplx_model,
                                   resolution=resolution, device=device, precision="fp32",
                                   max_people=max_people, detection_threshold=detection_threshold,
                                   cuda_graphs=False))
    graphs = export_pipeline_graphs(pipe, out, image_size=image_size, check=check)
    report = {"profile": profile, "resolution": pipe.decoder_size, "max_people": max_people,
              "opset": OPSET, "graphs": graphs, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "export.json").write_text(json.dumps(report, indent=1))
    if tensorrt:
        if importlib.util.find_spec("tensorrt") is None:
            raise ValueError(f"the ONNX graphs are in {out}, but TensorRT engines need the tensorrt "
                             "package (build them on the target GPU, e.g. the Jetson, where it is installed)")
        from ros_phmr.runtime.tensorrt import build_engine

        report["engines"] = {name: str(build_engine(Path(g["path"]), out / "engines"))
                             for name, g in graphs.items()}
        (out / "export.json").write_text(json.dumps(report, indent=1))
    return report


def export_pipeline_graphs(pipe, out: Path, image_size: Tuple[int, int] = (1920, 1080),
                           check: bool = True, people: Optional[int] = None) -> Dict[str, dict]:
    """Export a loaded (fp32) Pipeline's graphs; name -> {path, sha256, max_abs_error}."""
    width, height = image_size
    max_people = pipe.config.max_people
    graphs: Dict[str, dict] = {}
    tokens = None
    with torch.inference_mode(False), torch.no_grad():
        if pipe.detector is not None:
            size = pipe.detector.config.image_size
            image, K, _ = example_inputs(size, width, height)
            module = DetectorGraph(pipe.detector.net, pipe.config.detection_threshold, max_people).eval()
            names = detector_outputs(pipe.detector.net)
            reference = dict(zip(names, module(image, K)))  # also caches the position embedding
            path = _export(module, (image, K), out / f"detector_{size}_p{max_people}.onnx", ("image", "K"), names)
            tokens = reference["tokens"]
            graphs["detector"] = _entry(path, reference, {"image": image, "K": K}, check)
        if pipe.decoder is not None:
            size = pipe.decoder_size
            image, K, _ = example_inputs(size, width, height, seed=1)
            if pipe.shared_backbone:
                module, args, names = TokenEncoderGraph(pipe.decoder, size // PATCH).eval(), (tokens, K), ("tokens", "K")
            else:
                module, args, names = EncoderGraph(pipe.decoder).eval(), (image, K), ("image", "K")
            embeddings = module(*args)  # first call caches the resized position embedding: baked
            path = _export(module, args, out / f"encoder_{size}.onnx", names, ("embeddings",))
            graphs["encoder"] = _entry(path, {"embeddings": embeddings}, dict(zip(names, args)), check)
            boxes, valid = example_boxes(people or max(1, max_people // 2), max_people, size)
            module = DecoderGraph(pipe.decoder, max_people).eval()
            path = _export(module, (embeddings, K, boxes, valid), out / f"decoder_{size}_p{max_people}.onnx",
                           ("embeddings", "K", "boxes", "valid"), DECODER_OUTPUTS)
            reference = dict(zip(DECODER_OUTPUTS, module(embeddings, K, boxes, valid)))
            graphs["decoder"] = _entry(path, reference, {"embeddings": embeddings, "K": K, "boxes": boxes,
                                                         "valid": valid}, check)
    return graphs


def _entry(path: Path, reference: Dict[str, torch.Tensor], feeds: Dict[str, torch.Tensor], check: bool) -> dict:
    entry = {"path": str(path), "sha256": file_hash(path)}
    if check:
        import onnx

        graph_inputs = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
        numpy_feeds = {k: v.detach().cpu().numpy() for k, v in feeds.items() if k in graph_inputs}
        entry["max_abs_error"] = compare(reference, onnxruntime_outputs(path, numpy_feeds))
    return entry
