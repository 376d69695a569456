"""Rate and latency statistics against hand-computed values."""
import numpy as np
import pytest

from ros_phmr.stats import RateMeter, StageLatencies


class FakeClock:
    """A settable clock: the meter's notion of time, not a stand-in for a library."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_over_window():
    clock = FakeClock()
    meter = RateMeter(window_s=2.0, clock=clock)
    for _ in range(31):  # 30 intervals of 1/30 s
        meter.tick()
        clock.now += 1 / 30
    clock.now -= 1 / 30
    assert meter.rate() == pytest.approx(30.0)
    clock.now += 10  # all ticks fall out of the window
    assert meter.rate() == 0.0


def test_stage_percentiles_match_numpy_and_keep_only_recent():
    lat = StageLatencies(size=100)
    rng = np.random.default_rng(0)
    old = rng.uniform(1, 2, 50)
    new = rng.uniform(0.001, 0.010, 100)
    for a in np.concatenate([old, new]):
        lat.add({"decoder": a})
    p = lat.percentiles_ms()["decoder"]
    assert p["p50"] == pytest.approx(np.percentile(new, 50) * 1e3)
    assert p["p99"] == pytest.approx(np.percentile(new, 99) * 1e3)
