"""Tracker: ids through a crossing with occlusion, birth/death hysteresis, prompted ids, One
Euro filter, bad input, and the generated-walkers benchmark's numbers."""
import math

import numpy as np
import pytest

from ros_phmr.bench.tracking_bench import WalkerScene, _coverage, _project_box, run_tracking_bench
from ros_phmr.tracking import OneEuroConfig, OneEuroFilter, Tracker, TrackerConfig

K = np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
FPS = 30.0


def _crossing(frames=90, seed=0):
    """A walks right at 4 m, B walks left at 5 m; they cross mid-sequence and A hides B."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    roots = np.stack([np.stack([-1.5 + 1.2 * t, np.full_like(t, 0.3), np.full_like(t, 4.0)], 1),
                      np.stack([1.5 - 1.2 * t, np.full_like(t, 0.3), np.full_like(t, 5.0)], 1)], 1)
    detections, hidden = [], []
    for f in range(frames):
        boxes = [_project_box(r, K) for r in roots[f]]
        covered = _coverage(boxes[1], boxes[0]) >= 0.5
        hidden.append(covered)
        dets = [(boxes[0] + rng.normal(0, 2, 4), roots[f, 0] + rng.normal(0, [0.03, 0.03, 0.1]), 0)]
        if not covered:
            dets.append((boxes[1] + rng.normal(0, 2, 4), roots[f, 1] + rng.normal(0, [0.03, 0.03, 0.1]), 1))
        rng.shuffle(dets)
        detections.append(dets)
    return detections, np.array(hidden)


def _run(tracker, detections):
    """Per frame: {person: id} for the detections that got a confirmed id."""
    out = []
    for f, dets in enumerate(detections):
        ids = tracker.update(np.array([d[0] for d in dets]), np.array([d[1] for d in dets]), f / FPS)
        out.append({d[2]: int(i) for d, i in zip(dets, ids) if i >= 0})
    return out


def test_ids_survive_a_crossing_with_occlusion():
    detections, hidden = _crossing()
    occlusion = int(hidden.sum())
    assert 5 <= occlusion <= 10 and hidden[0] == hidden[-1] == False  # noqa: E712
    ids = _run(Tracker(TrackerConfig(max_age=10)), detections)
    assert ids[0] == {0: 0, 1: 1}
    for person in (0, 1):
        assert {frame[person] for frame in ids if person in frame} == {person}
    assert ids[-1] == {0: 0, 1: 1}  # B is back, under its old id


def test_birth_needs_min_hits_and_false_detections_use_no_id():
    tracker = Tracker(TrackerConfig(min_hits=3))
    box, root = np.array([[100, 100, 200, 400.0]]), np.array([[0.0, 0.3, 4.0]])
    for f in range(3):  # stream start: confirmed at once
        assert tracker.update(box, root, f / FPS).tolist() == [0]
    ghost_box = np.array([[900, 100, 1000, 400.0]])
    ghost_root = np.array([[3.0, 0.3, 6.0]])
    ids = tracker.update(np.vstack([box, ghost_box]), np.vstack([root, ghost_root]), 3 / FPS)
    assert ids.tolist() == [0, -1]  # tentative
    assert tracker.update(box, root, 4 / FPS).tolist() == [0]  # ghost gone, tentative dropped
    newcomer_box, newcomer_root = np.array([[500, 100, 600, 400.0]]), np.array([[1.0, 0.3, 4.0]])
    got = [tracker.update(np.vstack([box, newcomer_box]), np.vstack([root, newcomer_root]),
                          f / FPS).tolist() for f in range(5, 8)]
    assert got == [[0, -1], [0, -1], [0, 1]]  # the ghost used no id


def test_track_dies_after_max_age_and_survives_shorter_gaps():
    tracker = Tracker(TrackerConfig(max_age=5))
    box, root = np.array([[100, 100, 200, 400.0]]), np.array([[0.0, 0.3, 4.0]])
    empty = np.zeros((0, 4)), np.zeros((0, 3))
    f = 0
    for _ in range(3):
        tracker.update(box, root, f / FPS); f += 1  # noqa: E702
    for _ in range(5):
        tracker.update(*empty, f / FPS); f += 1  # noqa: E702
    assert tracker.update(box, root, f / FPS).tolist() == [0]  # 5 misses: still there
    f += 1
    for _ in range(6):
        tracker.update(*empty, f / FPS); f += 1  # noqa: E702
    assert tracker.active_ids == []
    assert tracker.update(box, root, f / FPS).tolist() == [-1]  # a new, tentative track


def test_prompted_ids_bind_to_their_track():
    tracker = Tracker()
    box, root = np.array([[100, 100, 200, 400.0]]), np.array([[0.0, 0.3, 4.0]])
    assert tracker.update(box, root, 0.0, ids=[7]).tolist() == [7]
    assert tracker.update(box + 2, root, 1 / FPS).tolist() == [7]   # associated without the id
    other = np.array([[600, 100, 700, 400.0]]), np.array([[2.0, 0.3, 4.0]])
    # A detection carrying id 7 is track 7 even far from its prediction.
    assert tracker.update(*other, 2 / FPS, ids=[7]).tolist() == [7]
    assert np.allclose(tracker.last_box(7), other[0][0])
    assert tracker.last_box(99) is None
    assert tracker.update(box, root, 3 / FPS).tolist() == [-1]  # someone new: tentative


def test_one_euro_filter_matches_its_definition():
    cfg = OneEuroConfig(min_cutoff=1.0, beta=0.5, d_cutoff=1.0)
    f = OneEuroFilter(cfg)
    assert np.allclose(f(np.array([0.0, 2.0]), 0.0), [0.0, 2.0])
    dt = 0.1
    out = f(np.array([1.0, 2.0]), dt)
    # Casiez et al.: alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi fc); fc = min_cutoff + beta |dx|
    alpha = lambda fc: 1.0 / (1.0 + 1.0 / (2 * math.pi * fc) / dt)  # noqa: E731
    dx = alpha(1.0) * (1.0 / dt)
    assert out[0] == pytest.approx(alpha(1.0 + 0.5 * dx) * 1.0)
    assert out[1] == pytest.approx(2.0)  # a still channel stays put
    assert np.allclose(f(np.array([1.0, 2.0]), dt), out)  # repeated stamp: state kept
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0.0)


def test_bad_input_is_refused_clearly():
    tracker = Tracker()
    tracker.update(np.zeros((0, 4)), np.zeros((0, 3)), 1.0)
    with pytest.raises(ValueError, match="not after"):
        tracker.update(np.zeros((0, 4)), np.zeros((0, 3)), 1.0)
    with pytest.raises(ValueError, match="2 boxes but 1 roots"):
        tracker.update(np.zeros((2, 4)), np.zeros((1, 3)), 2.0)
    with pytest.raises(ValueError, match="finite"):
        tracker.update(np.full((1, 4), np.nan), np.zeros((1, 3)), 3.0)
    with pytest.raises(ValueError, match="min_hits"):
        TrackerConfig(min_hits=0)


def test_walker_benchmark_keeps_id_switches_rare():
    report = run_tracking_bench(WalkerScene(sequences=3, frames=200), seed=1)
    assert report["person_frames"] == 3 * 200 * 5
    assert report["missed_runs"]["count"] > 10  # occlusions and misses did happen
    assert report["id_switches_per_1000_person_frames"] <= 1.0
    assert 0.0 <= report["fragmented_track_rate"] <= 1.0 and report["mota"] > 0.7
