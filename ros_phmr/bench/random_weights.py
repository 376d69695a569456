"""Random-weight checkpoints at official sizes for benchmarks, written once and reused.

Speed does not depend on weight values, so the benchmark runs released architectures with
seeded random weights: PromptHMR at its released size (ViT-L/896 backbone; no CLIP text tower,
which box prompts never run) and a Multi-HMR of any backbone and resolution.
"""
from __future__ import annotations

import os
from pathlib import Path

DETECTOR_ARCHS = {"S": "vit_small", "B": "vit_base", "L": "vit_large"}


def parse_detector(spec: str) -> tuple[str, int]:
    """'S:672' / 'vit_small:672' -> ('vit_small', 672)."""
    try:
        arch, res = spec.split(":")
        resolution = int(res)
    except ValueError:
        raise ValueError(f"detector must look like S:672 or vit_large:896, got {spec!r}") from None
    arch = DETECTOR_ARCHS.get(arch.upper(), arch)
    if arch not in DETECTOR_ARCHS.values():
        raise ValueError(f"unknown detector backbone {arch!r}; use S, B, L or {sorted(DETECTOR_ARCHS.values())}")
    if resolution <= 0 or resolution % 14:
        raise ValueError(f"detector resolution {resolution} must be a positive multiple of 14")
    return arch, resolution


def _atomic(path: Path, write) -> None:
    """Write through a temporary name and rename, so a half-written file is never picked up."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def bench_checkpoints(out_dir: str | Path, detector: str = "S:672", seed: int = 0,
                      prompthmr: bool = True) -> dict[str, str]:
    """Write (if missing) the synthetic body model, a full PromptHMR and a Multi-HMR checkpoint.

    Returns {"smplx_model", "prompthmr_checkpoint", "multihmr_checkpoint"} paths as strings.
    """
    from ros_phmr.body import write_synthetic_smplx
    from ros_phmr.model.multihmr.random_checkpoint import write_random_multihmr_checkpoint
    from ros_phmr.model.prompthmr.random_checkpoint import write_random_prompthmr_checkpoint

    out = Path(out_dir)
    arch, resolution = parse_detector(detector)
    smplx = out / "smplx" / "SMPLX_NEUTRAL.npz"
    if not smplx.is_file():
        smplx = Path(write_synthetic_smplx(out, seed=seed))
    paths = {"smplx_model": str(smplx), "prompthmr_checkpoint": "", "multihmr_checkpoint": ""}
    multihmr = out / "multihmr" / f"multiHMR_{arch}_{resolution}_seed{seed}.pt"
    if not multihmr.is_file():
        _atomic(multihmr, lambda tmp: write_random_multihmr_checkpoint(tmp, size="full", seed=seed, arch=arch,
                                                                       resolution=resolution))
    paths["multihmr_checkpoint"] = str(multihmr)
    if prompthmr:
        ckpt = out / "prompthmr" / f"checkpoint_full_seed{seed}.ckpt"
        if not ckpt.is_file():
            _atomic(ckpt, lambda tmp: write_random_prompthmr_checkpoint(tmp, size="full", seed=seed,
                                                                        include_text_tower=False, smplx_model=smplx))
        paths["prompthmr_checkpoint"] = str(ckpt)
    return paths
