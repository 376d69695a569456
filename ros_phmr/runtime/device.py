"""One reading of a ``device`` option ("auto", "cpu", "cuda", "cuda:N") for every command."""
from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """"auto" = CUDA when present; an explicit CUDA device without CUDA is a clear error, never
    a silent run on the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for but CUDA is not available")
    return device
