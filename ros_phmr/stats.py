"""Rates and latency percentiles over a sliding window, for diagnostics and benchmarks."""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

import numpy as np


class RateMeter:
    """Events per second over the last ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 5.0, clock=time.monotonic) -> None:
        self._window = window_s
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            now = self._clock()
            self._times.append(now)
            self._trim(now)

    def rate(self) -> float:
        with self._lock:
            now = self._clock()
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = now - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()


class StageLatencies:
    """The last ``size`` durations (seconds) of each named stage; percentiles in ms."""

    def __init__(self, size: int = 300) -> None:
        self._samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=size))
        self._lock = threading.Lock()

    def add(self, timings: dict[str, float]) -> None:
        with self._lock:
            for stage, seconds in timings.items():
                self._samples[stage].append(seconds)

    def percentiles_ms(self, qs=(50, 95, 99)) -> dict[str, dict[str, float]]:
        """``{stage: {"p50": ms, ...}}`` for every stage seen so far."""
        with self._lock:
            snapshot = {k: np.asarray(v) for k, v in self._samples.items() if v}
        return {stage: {f"p{q}": float(np.percentile(v, q) * 1e3) for q in qs}
                for stage, v in snapshot.items()}
