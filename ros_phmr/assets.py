"""Deterministic assets for tests and demos, written by ``ros-phmr assets``.

Neither the SMPL-X model files nor the official checkpoints may be shipped, so the project
generates stand-ins with the same layouts: the real loading code then runs unchanged on them.
"""
from __future__ import annotations

from pathlib import Path

SIZES = ("tiny", "full")


def write_assets(out_dir: str | Path, size: str = "tiny", seed: int = 0) -> dict[str, Path]:
    """Write every generated asset under ``out_dir``; returns label -> path.

    - ``smplx/SMPLX_NEUTRAL.npz``: the synthetic body model in the SMPL-X v1.1 file layout;
    - ``prompthmr/checkpoint.ckpt``: random weights in the released PromptHMR layout (its
      SMPL-X buffers taken from the synthetic model);
    - ``multihmr/multiHMR_<size>.pt``: random weights in the released Multi-HMR layout.

    ``size``: "tiny" (reduced widths, for CI) or "full" (the released dimensions: ViT-L at
    896 px; several GB).
    """
    from ros_phmr.body import write_synthetic_smplx
    from ros_phmr.model.multihmr.random_checkpoint import write_random_multihmr_checkpoint
    from ros_phmr.model.prompthmr.random_checkpoint import write_random_prompthmr_checkpoint

    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    smplx_file = write_synthetic_smplx(out_dir, seed=seed)
    return {
        "synthetic SMPL-X model": smplx_file,
        "PromptHMR checkpoint": write_random_prompthmr_checkpoint(
            out_dir / "prompthmr" / "checkpoint.ckpt", size=size, seed=seed,
            smplx_model=smplx_file),
        "Multi-HMR checkpoint": write_random_multihmr_checkpoint(
            out_dir / "multihmr" / f"multiHMR_{size}.pt", size=size, seed=seed),
    }
