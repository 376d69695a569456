"""Data shipped with the package: the demo checkpoint (our own weights, trained on the project's
synthetic mannequin scenes; see ``ros_phmr.train`` and ``ros-phmr train``)."""
from __future__ import annotations

from pathlib import Path

DEMO_CHECKPOINT = "demo_fused_vit192.safetensors"


def demo_checkpoint_path() -> Path:
    """Path of the shipped fused demo checkpoint (detector + promptable decoder, one ViT backbone).

    FileNotFoundError if the installation lacks it (package data not installed)."""
    path = Path(__file__).resolve().parent / DEMO_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"the demo checkpoint is missing from this installation: {path} "
                                "(install the package with its package data)")
    return path


def is_demo_checkpoint(path) -> bool:
    """Whether ``path`` is the shipped demo checkpoint (for labels in logs and recordings)."""
    return Path(path).resolve() == Path(__file__).resolve().parent / DEMO_CHECKPOINT
