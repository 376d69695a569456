"""Reading released checkpoint files and loading them strictly, with errors that say what is wrong.

Formats understood:
* Multi-HMR ``.pt``: ``{"epoch", "iter", "model_state_dict", "args": argparse.Namespace}``;
* PromptHMR Lightning ``checkpoint.ckpt``: ``{"state_dict": ..., "hyper_parameters"?: ...}``;
* a bare state dict (name -> tensor), e.g. DINOv2 weights or a converted file.

The kind of a state dict is recognised by its key prefixes, so that a PromptHMR file given where
a Multi-HMR one is expected fails with a message saying what the file looks like.
"""
import argparse
import contextlib
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

# kind -> (display name, key prefixes that all must be present)
CHECKPOINT_KINDS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "multihmr": ("Multi-HMR", ("backbone.encoder.", "mlp_classif.", "x_attention_head.")),
    "prompthmr": ("PromptHMR", ("image_encoder.", "smpl_decoder.")),
    "dinov2": ("bare DINOv2 backbone", ("cls_token", "patch_embed.", "blocks.")),
}

# Kinds whose official file format pickles Python objects besides tensors; only for these a file
# that the restricted unpickler refuses is re-read with full pickle (after a warning).
_PICKLED_ARGS_KINDS = ("multihmr",)

_LIST_LIMIT = 10


def detect_checkpoint_kind(state_dict: Mapping[str, object]) -> Optional[str]:
    """The kind ('multihmr', 'prompthmr', 'dinov2') whose key prefixes all occur, else None."""
    keys = list(state_dict)
    for kind, (_, prefixes) in CHECKPOINT_KINDS.items():
        if all(any(k.startswith(p) for k in keys) for p in prefixes):
            return kind
    return None


def sub_state_dict(state_dict: Mapping[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """Entries under ``prefix`` with the prefix removed (e.g. 'backbone.encoder.')."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _format_keys(keys: List[str]) -> str:
    shown = ", ".join(keys[:_LIST_LIMIT])
    more = f", ... ({len(keys) - _LIST_LIMIT} more)" if len(keys) > _LIST_LIMIT else ""
    return shown + more


def _describe(state_dict: Mapping[str, object]) -> str:
    kind = detect_checkpoint_kind(state_dict)
    if kind is not None:
        return f"a {CHECKPOINT_KINDS[kind][0]} checkpoint"
    prefixes = sorted({k.split(".", 1)[0] for k in state_dict})
    return f"an unrecognised state dict (top-level key prefixes: {_format_keys(prefixes)})"


@contextlib.contextmanager
def _allow_namespace():
    """Let the restricted (weights_only) unpickler accept argparse.Namespace, if torch can."""
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is None:
        yield
    else:
        with safe_globals([argparse.Namespace]):
            yield


def _torch_load(path: Path, kind: str) -> object:
    try:
        with _allow_namespace():
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" not in str(err).lower():
            raise ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {err}") from err
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {err}") from err
        if kind not in _PICKLED_ARGS_KINDS:
            raise ValueError(
                f"{path}: holds pickled Python objects other than tensors, which a "
                f"{CHECKPOINT_KINDS[kind][0]} checkpoint does not; refusing to unpickle it ({err})"
            ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError, ImportError) as err:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {err}") from err
    warnings.warn(
        f"{path}: re-reading with torch.load(weights_only=False) because the official "
        f"{CHECKPOINT_KINDS[kind][0]} format pickles its training arguments; pickle can run code, "
        "so only load checkpoint files from a source you trust",
        stacklevel=3,
    )
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # any unpickling failure means the file is unusable
        raise ValueError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {err}") from err


def _split_payload(payload: object, path: Path) -> Tuple[Dict[str, torch.Tensor], dict]:
    """(state_dict, args) from the three supported layouts."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"{path}: expected a dict at the top level, found {type(payload).__name__}")
    if "model_state_dict" in payload:  # Multi-HMR
        state_dict, args = payload["model_state_dict"], payload.get("args", {})
    elif "state_dict" in payload:  # Lightning
        state_dict, args = payload["state_dict"], payload.get("hyper_parameters", {})
    elif payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state_dict, args = payload, {}
    else:
        raise ValueError(
            f"{path}: no state dict found (expected 'model_state_dict' or 'state_dict'; "
            f"top-level keys: {_format_keys([str(k) for k in payload])})"
        )
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise ValueError(f"{path}: the state dict is empty or not a mapping")
    bad = [str(k) for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path}: state dict entries that are not tensors: {_format_keys(bad)}")
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    return dict(state_dict), dict(args) if isinstance(args, Mapping) else {}


def load_checkpoint_file(path: Union[str, Path], kind: str) -> dict:
    """Read a checkpoint of the given kind ('multihmr', 'prompthmr', 'dinov2') onto the CPU.

    Returns ``{"kind": kind, "path": Path, "state_dict": {name: tensor}, "args": dict}`` where
    ``args`` are the stored training arguments / hyper-parameters ({} when the file has none).
    Raises FileNotFoundError for a missing file and ValueError for an unreadable file or a file
    of another kind.
    """
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}; known: {', '.join(CHECKPOINT_KINDS)}")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{CHECKPOINT_KINDS[kind][0]} checkpoint not found: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file; pass the checkpoint file itself")
    if path.suffix == ".safetensors":
        return _from_compact(path, kind)
    state_dict, args = _split_payload(_torch_load(path, kind), path)
    found = detect_checkpoint_kind(state_dict)
    if found != kind:
        raise ValueError(
            f"{path}: expected a {CHECKPOINT_KINDS[kind][0]} checkpoint "
            f"(keys {', '.join(p + '*' for p in CHECKPOINT_KINDS[kind][1])}), but it looks like {_describe(state_dict)}"
        )
    return {"kind": kind, "path": path, "state_dict": state_dict, "args": args}


def _from_compact(path: Path, kind: str) -> dict:
    """The ``kind`` component of a compact file (see :mod:`ros_phmr.model.compact`)."""
    from ros_phmr.model.compact import read_compact

    parts = read_compact(path)
    if kind not in parts:
        raise ValueError(f"{path}: this compact checkpoint holds {', '.join(sorted(parts))}, "
                         f"not a {CHECKPOINT_KINDS[kind][0]} model")
    return {"kind": kind, "path": path, "state_dict": parts[kind]["state_dict"],
            "args": parts[kind]["args"]}


def state_dict_mismatches(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor]
) -> Tuple[List[str], List[str], List[str]]:
    """(missing keys, unexpected keys, 'key: file shape vs model shape' lines) of a load."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} in file vs {tuple(v.shape)} in model"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    return missing, unexpected, mismatched


def load_state_dict_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """Load every tensor or raise ValueError naming missing / unexpected keys and shape mismatches."""
    missing, unexpected, mismatched = state_dict_mismatches(module, state_dict)
    problems: Iterable[Tuple[str, List[str]]] = (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", mismatched),
    )
    lines = [f"{len(items)} {label}: {_format_keys(items)}" for label, items in problems if items]
    if lines:
        raise ValueError(f"cannot load {what}: " + "; ".join(lines))
    module.load_state_dict(state_dict, strict=True)


def fill_random_(module: nn.Module, generator: torch.Generator, other_std: float = 0.02) -> nn.Module:
    """Deterministic, well-scaled random weights for random-weight checkpoints (tests, demos).

    Linear / conv weights ~ N(0, 1/fan_in) keep activations O(1); their biases and every other
    parameter ~ N(0, other_std^2); LayerNorm weights ~ 1 + N(0, 0.1^2) so a swapped or skipped
    norm shows up in parity tests. Parameters are visited in ``named_modules`` order on the CPU,
    so a seed gives the same tensors on every machine. Buffers are left untouched.
    """
    with torch.no_grad():
        for _, sub in module.named_modules():
            for name, param in sub.named_parameters(recurse=False):
                values = torch.randn(param.shape, generator=generator, dtype=torch.float32)
                if isinstance(sub, (nn.Linear, nn.Conv1d, nn.Conv2d)) and name == "weight":
                    values /= float(param[0].numel()) ** 0.5  # fan_in = in_channels * kernel area
                elif isinstance(sub, nn.LayerNorm) and name == "weight":
                    values = 1.0 + 0.1 * values
                else:
                    values *= other_std
                param.copy_(values)
    return module
