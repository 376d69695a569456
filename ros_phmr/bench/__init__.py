"""Benchmarks behind ``ros-phmr bench``: the pipeline, a backbone alone, tracking, refinement."""
from __future__ import annotations

import json
from pathlib import Path


def write_report(path: Path | None, report: dict) -> None:
    """The report as indented JSON at ``path`` (folders made), and say where; nothing for None."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    print(f"wrote {path}")
