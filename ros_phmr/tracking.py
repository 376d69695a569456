"""Multi-person tracking: stable ids across frames through crossings and short occlusions.

Prompts are keyed by person id, so ids must survive what a camera sees every few seconds:
two people crossing (their boxes overlap almost completely) and one hiding the other for a
few frames. Each track predicts its box and its 3D root (pelvis) with a constant velocity;
detections are associated in two stages with the Hungarian solver:

1. box IoU against the predicted boxes, with the 3D root distance as a tie-breaker and gate
   (at a crossing the boxes agree but the depths do not);
2. what is left, by 3D root distance alone, with a gate that widens with the time a track has
   been unseen (after an occlusion its predicted box has drifted, its 3D position less so).

Births and deaths have hysteresis: a track is confirmed (gets an id) after ``min_hits``
consecutive matches and dies after ``max_age`` frames without one. Ids are allocated on
confirmation, so one-frame false detections never use one up. Detections that already carry
an id (a person decoded for a prompt of that id) are bound to that track directly.

Optional One Euro smoothing (Casiez et al., CHI 2012) of a track's parameter vectors is
provided by :class:`OneEuroFilter`; it is off by default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ros_phmr.geometry.projection import box_iou

_INFEASIBLE = 1e6


@dataclass(frozen=True)
class OneEuroConfig:
    """One Euro filter parameters: ``min_cutoff`` (Hz) sets the smoothing of a still signal,
    ``beta`` how fast the cutoff rises with speed (less lag when moving), ``d_cutoff`` (Hz)
    the smoothing of the speed estimate."""

    min_cutoff: float = 1.0
    beta: float = 0.5
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError(f"One Euro filter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0, "
                             f"got {self.min_cutoff}, {self.d_cutoff}, {self.beta}")


class OneEuroFilter:
    """Element-wise One Euro low-pass filter of a vector signal with irregular time steps."""

    def __init__(self, config: OneEuroConfig = OneEuroConfig()) -> None:
        self.config = config
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x, t: float) -> np.ndarray:
        """Filtered value of sample ``x`` taken at time ``t`` (seconds)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        if t <= self._t:  # repeated or out-of-order stamp: keep the state
            return self._x.copy()
        dt = t - self._t
        a_d = self._alpha(self.config.d_cutoff, dt)
        self._dx = a_d * (x - self._x) / dt + (1.0 - a_d) * self._dx
        a = self._alpha(self.config.min_cutoff + self.config.beta * np.abs(self._dx), dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = t
        return self._x.copy()


@dataclass(frozen=True)
class TrackerConfig:
    """Association gates and track life cycle.

    ``min_iou``: stage-1 gate on box IoU with the predicted box. ``root_weight``: cost per metre
    of 3D root distance added to ``1 - IoU`` in stage 1. ``max_root_distance`` (m): gate of
    both stages for a track seen in the previous frame; it grows by ``root_gate_growth`` (m)
    per frame unseen, capped at ``max_root_gate``. ``min_hits``: consecutive matches before a
    track is confirmed. ``max_age``: frames a track survives without a match (occlusion
    length). ``position_gain`` / ``velocity_gain``: alpha and beta of the alpha-beta filter
    that smooths each track's box centre and root and estimates their velocities (per-frame
    root noise of monocular depth is decimetres, so raw differences would be useless).
    ``depth_weight`` scales the depth component of root distances for the same reason.
    """

    min_iou: float = 0.2
    root_weight: float = 1.0
    max_root_distance: float = 0.5
    root_gate_growth: float = 0.1
    max_root_gate: float = 1.5
    min_hits: int = 3
    max_age: int = 15
    position_gain: float = 0.5
    velocity_gain: float = 0.1
    depth_weight: float = 0.5
    frame_period_s: float = 1.0 / 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_iou < 1.0:
            raise ValueError(f"min_iou must be in [0, 1), got {self.min_iou}")
        if self.min_hits < 1 or self.max_age < 0:
            raise ValueError(f"min_hits must be >= 1 and max_age >= 0, got {self.min_hits}, "
                             f"{self.max_age}")
        for name in ("position_gain", "velocity_gain", "depth_weight"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if min(self.max_root_distance, self.max_root_gate, self.frame_period_s) <= 0:
            raise ValueError("max_root_distance, max_root_gate and frame_period_s must be > 0")


@dataclass
class Track:
    """One person over time; positions filtered at ``stamp_s``, velocities per second."""

    track_id: int                   # -1 while tentative
    box: np.ndarray                 # (4,) xyxy
    root: np.ndarray                # (3,) metres, camera frame
    stamp_s: float                  # time of the last measurement
    box_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))   # (2,) centre px/s
    root_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))  # (3,) m/s
    hits: int = 1                   # consecutive matched frames
    misses: int = 0                 # consecutive unmatched frames
    age: int = 1                    # frames since birth

    @property
    def confirmed(self) -> bool:
        return self.track_id >= 0

    def predicted_box(self, stamp_s: float) -> np.ndarray:
        """Box moved by the centre velocity (size kept) to ``stamp_s``."""
        shift = self.box_velocity * (stamp_s - self.stamp_s)
        return self.box + np.concatenate([shift, shift])

    def predicted_root(self, stamp_s: float) -> np.ndarray:
        return self.root + self.root_velocity * (stamp_s - self.stamp_s)


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Hungarian assignment of a (T, D) cost matrix, dropping pairs at the infeasible cost."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < _INFEASIBLE]


class Tracker:
    """Two-stage Hungarian tracker over boxes and 3D roots (see the module docstring)."""

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start again at 0."""
        self.tracks: list[Track] = []
        self._next_id = 0
        self._frames = 0
        self._last_stamp: float | None = None

    def last_box(self, track_id: int, stamp_s: float | None = None) -> np.ndarray | None:
        """Box of a confirmed track (predicted to ``stamp_s`` when given), None if unknown."""
        for t in self.tracks:
            if t.track_id == track_id:
                return t.box.copy() if stamp_s is None else t.predicted_box(stamp_s)
        return None

    @property
    def active_ids(self) -> list[int]:
        return sorted(t.track_id for t in self.tracks if t.confirmed)

    def update(self, boxes, roots, stamp_s: float | None = None, ids=None) -> np.ndarray:
        """Associate one frame's detections; returns the track id of each (-1 = tentative).

        boxes (N, 4) xyxy pixels, roots (N, 3) metres (camera frame), ``stamp_s`` seconds
        (None: one ``frame_period_s`` after the previous frame), ``ids`` (N,) ids already known
        for some detections (>= 0) or -1.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        roots = np.asarray(roots, np.float64).reshape(-1, 3)
        n = len(boxes)
        if len(roots) != n:
            raise ValueError(f"got {n} boxes but {len(roots)} roots")
        if not (np.all(np.isfinite(boxes)) and np.all(np.isfinite(roots))):
            raise ValueError("boxes and roots must be finite")
        hints = np.full(n, -1, np.int64) if ids is None else np.asarray(ids, np.int64).reshape(-1)
        if len(hints) != n:
            raise ValueError(f"got {n} detections but {len(hints)} ids")
        if stamp_s is None:
            stamp_s = 0.0 if self._last_stamp is None else self._last_stamp + self.config.frame_period_s
        if self._last_stamp is not None and stamp_s <= self._last_stamp:
            raise ValueError(f"stamp {stamp_s} is not after the previous frame's {self._last_stamp}")
        self._last_stamp = stamp_s
        self._frames += 1

        matches = self._bind_hinted(hints)
        free_t = [i for i in range(len(self.tracks)) if i not in {t for t, _ in matches}]
        free_d = [j for j in range(n) if hints[j] < 0]  # hinted detections never go to others
        for stage in (self._iou_cost, self._root_cost):
            cost = stage([self.tracks[i] for i in free_t], boxes[free_d], roots[free_d], stamp_s)
            pairs = [(free_t[r], free_d[c]) for r, c in _assign(cost)]
            matches += pairs
            free_t = [i for i in free_t if i not in {t for t, _ in pairs}]
            free_d = [j for j in free_d if j not in {d for _, d in pairs}]

        out = np.full(n, -1, np.int64)
        for ti, dj in matches:
            self._correct(self.tracks[ti], boxes[dj], roots[dj], stamp_s, exact=hints[dj] >= 0)
            out[dj] = self.tracks[ti].track_id
        for ti in free_t:
            track = self.tracks[ti]
            track.hits, track.misses, track.age = 0, track.misses + 1, track.age + 1
        bound = {d for _, d in matches}
        for dj in free_d + [j for j in range(n) if hints[j] >= 0 and j not in bound]:
            out[dj] = self._birth(boxes[dj], roots[dj], stamp_s, int(hints[dj]))
        self.tracks = [t for t in self.tracks
                       if t.misses <= (self.config.max_age if t.confirmed else 0)]
        return out

    # -- internals ------------------------------------------------------------------------

    def _bind_hinted(self, hints: np.ndarray) -> list[tuple[int, int]]:
        """Detections carrying the id of a live track are that track (the first one of a
        repeated id; a second one starts its own track)."""
        index = {t.track_id: i for i, t in enumerate(self.tracks) if t.confirmed}
        matches = []
        for j, h in enumerate(hints):
            if int(h) in index:
                matches.append((index.pop(int(h)), j))
        return matches

    def _gate(self, track: Track) -> float:
        c = self.config
        return min(c.max_root_distance + c.root_gate_growth * track.misses, c.max_root_gate)

    def _root_distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(T, 3) x (D, 3) -> (T, D) distances with the depth axis down-weighted."""
        diff = a[:, None] - b[None]                                                  # (T, D, 3)
        diff[..., 2] *= self.config.depth_weight
        return np.linalg.norm(diff, axis=-1)

    def _iou_cost(self, tracks: list[Track], boxes, roots, stamp_s: float) -> np.ndarray:
        if not tracks or not len(boxes):
            return np.zeros((len(tracks), len(boxes)))
        pred_boxes = np.stack([t.predicted_box(stamp_s) for t in tracks])            # (T, 4)
        pred_roots = np.stack([t.predicted_root(stamp_s) for t in tracks])           # (T, 3)
        iou = box_iou(pred_boxes, boxes)                                             # (T, D)
        dist = self._root_distance(pred_roots, roots)                                # (T, D)
        gate = np.array([self._gate(t) for t in tracks])[:, None]
        cost = (1.0 - iou) + self.config.root_weight * dist
        return np.where((iou >= self.config.min_iou) & (dist <= gate), cost, _INFEASIBLE)

    def _root_cost(self, tracks: list[Track], boxes, roots, stamp_s: float) -> np.ndarray:
        if not tracks or not len(boxes):
            return np.zeros((len(tracks), len(boxes)))
        pred_roots = np.stack([t.predicted_root(stamp_s) for t in tracks])
        dist = self._root_distance(pred_roots, roots)
        gate = np.array([self._gate(t) for t in tracks])[:, None]
        return np.where(dist <= gate, dist, _INFEASIBLE)

    def _correct(self, track: Track, box: np.ndarray, root: np.ndarray, stamp_s: float,
                 exact: bool = False) -> None:
        """Alpha-beta update of root and box centre; the box size follows the measurement.
        ``exact``: the detection was decoded for a prompt of this id; its box is taken as is."""
        dt = stamp_s - track.stamp_s
        a, b = self.config.position_gain, self.config.velocity_gain
        pred_root = track.predicted_root(stamp_s)
        residual = root - pred_root
        track.root = pred_root + a * residual
        track.root_velocity = track.root_velocity + (b / dt) * residual
        pred_box = track.predicted_box(stamp_s)
        centre = lambda x: 0.5 * (x[:2] + x[2:])  # noqa: E731
        shift = centre(box) - centre(pred_box)
        track.box_velocity = track.box_velocity + (b / dt) * shift
        new_centre = centre(pred_box) + a * shift
        half = 0.5 * ((1 - a) * (pred_box[2:] - pred_box[:2]) + a * (box[2:] - box[:2]))
        track.box = np.concatenate([new_centre - half, new_centre + half])
        if exact:
            track.box, track.root = box.copy(), root.copy()
        track.stamp_s = stamp_s
        track.hits, track.misses, track.age = track.hits + 1, 0, track.age + 1
        if not track.confirmed and (track.hits >= self.config.min_hits
                                    or self._frames <= self.config.min_hits):
            track.track_id = self._new_id()

    def _birth(self, box: np.ndarray, root: np.ndarray, stamp_s: float, hint: int) -> int:
        """A new track; confirmed at once when its id is given or the stream has just begun
        (the first ``min_hits`` frames: nobody can have been seen ``min_hits`` times yet)."""
        track = Track(track_id=-1, box=box.copy(), root=root.copy(), stamp_s=stamp_s)
        if hint >= 0 and hint not in {t.track_id for t in self.tracks}:
            track.track_id = hint
            self._next_id = max(self._next_id, hint + 1)
        elif self.config.min_hits <= 1 or self._frames <= self.config.min_hits:
            track.track_id = self._new_id()
        self.tracks.append(track)
        return track.track_id

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1
