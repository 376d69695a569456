"""One call per frame for ``live``, ``process`` and ``demo``: the pipeline with tracking and
interactions (:mod:`ros_phmr.perception`), its model loaded once and reusable across inputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

from ..people import PersonEstimate
from ..perception import Perception, PerceptionConfig
from ..pipeline import Pipeline, PipelineConfig


@dataclass
class Estimate:
    people: List[PersonEstimate]
    interactions: list = field(default_factory=list)     # objects with id_a, id_b, min_distance
    timings: Dict[str, float] = field(default_factory=dict)


class Estimator:
    """Pipeline + Perception behind ``estimate(image, K, stamp_ns)``."""

    def __init__(self, config: PipelineConfig) -> None:
        self.pipeline = Pipeline(config)
        # Tentative people (not yet confirmed by the tracker, id -1) are shown too: a viewer should
        # see everyone the model found from the first frame on.
        self.perception = Perception(self.pipeline, PerceptionConfig(report_tentative=True))

    @property
    def faces(self) -> np.ndarray:
        return self.pipeline.faces

    def estimate(self, image: np.ndarray, K: np.ndarray, stamp_ns: int) -> Estimate:
        """People in ``image`` (H, W, 3) uint8 RGB with intrinsics ``K`` (3, 3)."""
        out = self.perception.process(image, K, None, stamp_ns / 1e9)
        return Estimate(list(out.people), list(out.interactions), dict(out.timings))

    def reset(self) -> None:
        """Forget tracks (a new input starts)."""
        self.perception.reset()

    def close(self) -> None:
        self.pipeline.close()


def open_estimator(model) -> tuple:
    """(Estimator, owned): a new Estimator for a PipelineConfig (owned, close it), or the given
    Estimator reset for a new input (not owned: its model stays loaded for the next run)."""
    if isinstance(model, Estimator):
        model.reset()
        return model, False
    if not isinstance(model, PipelineConfig):
        raise ValueError(f"model must be a PipelineConfig or an Estimator, got {type(model).__name__}")
    return Estimator(model), True
