"""ros_phmr's compact checkpoint format: one safetensors file, a JSON description in its header.

Why: the released files are pickles (Lightning ``.ckpt``, Multi-HMR ``.pt`` whose ``args`` need
``weights_only=False``), 1.5–2.3 GB with optimiser-free but full-precision weights. The compact
file holds one or more components (``prompthmr``, ``multihmr``) under ``<component>/<key>``
names, their training arguments as JSON, optionally fp16 weight matrices, and loads without
unpickling anything. ``load_checkpoint_file`` reads it like the official files, so every loader
accepts both.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import safetensors
import torch
from safetensors import safe_open
from safetensors.torch import save_file

# Exported at the top level only by newer safetensors releases.
_READ_ERROR = getattr(safetensors, "SafetensorError", RuntimeError)

FORMAT = "ros_phmr.compact/1"
SUFFIX = ".safetensors"


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def write_compact(path: str | Path, components: Mapping[str, Mapping], half: bool = False) -> Path:
    """Write ``{name: {"state_dict": {...}, "args": {...}}}`` to ``path`` (.safetensors).

    ``half``: store the layers' weight matrices (``*.weight`` with 2+ dims) as fp16; biases,
    norms, embeddings and buffers such as the decoders' init pose and depth stay as they are
    (the depth decode reads its init value exactly). Loading casts back to fp32.
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"compact checkpoints end in {SUFFIX}, got {path.name}")
    tensors, described, storages = {}, {}, set()
    written, aliases = {}, {}  # a tensor shared by two components (a fused backbone) is stored once
    for name, part in components.items():
        for key, tensor in part["state_dict"].items():
            ident = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tuple(tensor.stride()))
            if tensor.numel() and ident in written:
                aliases[f"{name}/{key}"] = written[ident]
                continue
            t = tensor.detach().cpu()
            if half and t.is_floating_point() and t.dim() >= 2 and key.endswith(".weight"):
                t = t.half()
            t = t.contiguous()
            if t.numel() and t.untyped_storage().data_ptr() in storages:
                t = t.clone()  # safetensors stores each tensor on its own
            storages.add(t.untyped_storage().data_ptr())
            tensors[f"{name}/{key}"] = t
            written[ident] = f"{name}/{key}"
        described[name] = {"args": _json_safe(dict(part.get("args", {}))),
                           "tensors": len(part["state_dict"])}
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "components": json.dumps(described)}
    if aliases:
        meta["aliases"] = json.dumps(aliases)
    save_file(tensors, str(path), metadata=meta)
    return path


def read_compact(path: str | Path) -> dict[str, dict]:
    """``{name: {"state_dict": {key: fp32/int tensor}, "args": dict}}``; ValueError if not ours."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path} is a safetensors file but not a ros_phmr compact "
                                 f"checkpoint (format {meta.get('format')!r}, expected {FORMAT})")
            described = json.loads(meta["components"])
            parts = {name: {"state_dict": {}, "args": d["args"]} for name, d in described.items()}
            stored = {}
            for full_key in f.keys():
                t = f.get_tensor(full_key)
                stored[full_key] = t.float() if t.dtype == torch.float16 else t
            for alias, target in json.loads(meta.get("aliases", "{}")).items():
                stored[alias] = stored[target].clone()
            for full_key, t in stored.items():
                name, key = full_key.split("/", 1)
                parts[name]["state_dict"][key] = t
    except (_READ_ERROR, OSError, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable compact checkpoint: {err}") from None
    return parts


def convert_checkpoints(out: str | Path, prompthmr: str | Path | None = None,
                        multihmr: str | Path | None = None, half: bool = False,
                        text_tower: bool = True, body_buffers: bool = True) -> Path:
    """Official (or official-layout) checkpoints -> one compact file; what ``ros-phmr convert`` runs.

    Kept: every network tensor our loaders use. Dropped: the SMPL (not SMPL-X) buffers and the
    SMPL-X->SMPL regressor that only upstream's evaluation reads; with ``text_tower=False`` the
    CLIP text tower (no text prompts then); with ``body_buffers=False`` PromptHMR's ``smplx.*``
    buffers (then pass an SMPL-X file when loading). The licences of the source files apply to
    the result.
    """
    from ros_phmr.model.checkpoint import load_checkpoint_file

    if prompthmr is None and multihmr is None:
        raise ValueError("nothing to convert: give a PromptHMR and/or a Multi-HMR checkpoint")
    components = {}
    if multihmr is not None:
        ckpt = load_checkpoint_file(multihmr, "multihmr")
        components["multihmr"] = {"state_dict": ckpt["state_dict"], "args": ckpt["args"]}
    if prompthmr is not None:
        ckpt = load_checkpoint_file(prompthmr, "prompthmr")
        drop = ["smpl.", "smplx2smpl"] + ([] if body_buffers else ["smplx."])
        if not text_tower:
            drop.append("prompt_encoder.clip_encoder.")
        state = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith(tuple(drop))}
        components["prompthmr"] = {"state_dict": state, "args": ckpt["args"]}
    return write_compact(out, components, half)
