"""Deterministic assets for tests and demos, written by ``ros-phmr assets``.

Neither the SMPL-X model files nor the official checkpoints may be shipped, so the project
generates stand-ins with the same layouts: the real loading code then runs unchanged on them.
"""
from __future__ import annotations

from pathlib import Path


def write_assets(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> dict[str, Path]:
    """Write every generated asset under ``out_dir``; returns label -> path."""
    from ros_phmr.body import write_synthetic_smplx

    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', got {size!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {"synthetic SMPL-X model": write_synthetic_smplx(out_dir, seed=seed)}
