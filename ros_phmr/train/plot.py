"""Loss curves of a training log (``log.jsonl``) as a PNG (matplotlib, no display needed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union


def read_log(path: Union[str, Path]) -> list:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_losses(log_path: Union[str, Path], out_png: Union[str, Path]) -> Path:
    """One panel with the total loss, one with every term (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    if not rows:
        raise ValueError(f"{log_path} holds no log entries")
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    axes[0].plot(steps, [r["total"] for r in rows], color="k")
    axes[0].set_title("total loss")
    terms = sorted({k for r in rows for k in r.get("losses", {})})
    for name in terms:
        axes[1].plot(steps, [r["losses"].get(name, float("nan")) for r in rows], label=name, linewidth=1)
    axes[1].set_yscale("log")
    axes[1].set_title("loss terms (unweighted)")
    axes[1].legend(fontsize=6, ncol=2)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png
