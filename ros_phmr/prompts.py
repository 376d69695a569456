"""Prompt store and per-frame fusion: what other nodes asked about whom, matched to a frame.

Prompts arrive asynchronously on their own topics, keyed by person id (the tracker's ids, or
ids that the publisher chose). Each is stamped; a prompt applies to frames stamped from
``stamp - match_tolerance`` until ``stamp + expire_after`` and the newest prompt of a kind
for an id replaces the older one. A text prompt for id 3 thus follows person 3 until it
expires, and a box stamped like an image applies to that image and the few after it
(latest-frame-wins processing may skip the exact image).

Nothing here raises on bad input from the outside world: invalid prompts are dropped or
corrected, and each case comes back as a :class:`~ros_phmr.drops.Drop` for the caller to log
and count.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ros_phmr.drops import Drop

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class PersonPrompt:
    """Everything prompted about one person for one frame; ``None`` = not prompted."""

    person_id: int
    box: np.ndarray | None = None  # (4,) float32 xyxy, original image pixels, clipped
    box_score: float = 1.0
    mask: np.ndarray | None = None  # (H, W) bool, original image size
    text: str | None = None


@dataclass(frozen=True)
class FramePrompts:
    """The prompts that apply to one frame, people sorted by id."""

    people: tuple[PersonPrompt, ...] = ()
    interaction_pairs: frozenset[tuple[int, int]] = frozenset()  # (a, b) with a < b

    def ids(self) -> list[int]:
        return [p.person_id for p in self.people]

    @property
    def empty(self) -> bool:
        return not self.people and not self.interaction_pairs


@dataclass
class _Stamped:
    stamp_ns: int
    value: object


@dataclass
class _PersonSlots:
    box: _Stamped | None = None
    mask: _Stamped | None = None
    text: _Stamped | None = None


def check_box(box, width: int, height: int) -> tuple[np.ndarray | None, Drop | None]:
    """Clip an xyxy box to the image; None and a Drop when it cannot be used.

    A box partly outside the image is clipped (reported as a correction); NaN, inverted or
    degenerate boxes and boxes entirely outside are dropped.
    """
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,):
        return None, Drop("box_malformed", f"expected 4 numbers x1,y1,x2,y2, got {b.size}")
    if not np.all(np.isfinite(b)):
        return None, Drop("box_not_finite", f"box {b.tolist()} has NaN or inf")
    x1, y1, x2, y2 = b
    if x2 <= x1 or y2 <= y1:
        return None, Drop("box_inverted", f"box {b.tolist()} needs x2 > x1 and y2 > y1")
    clipped = np.array([min(max(x1, 0.0), width), min(max(y1, 0.0), height),
                        min(max(x2, 0.0), width), min(max(y2, 0.0), height)])
    if clipped[2] - clipped[0] < 1.0 or clipped[3] - clipped[1] < 1.0:
        return None, Drop("box_outside_image",
                          f"box {b.tolist()} lies outside the {width}x{height} image")
    drop = None
    if not np.array_equal(clipped, b):
        drop = Drop("box_clipped", f"box {b.tolist()} clipped to the {width}x{height} image")
    return clipped.astype(np.float32), drop


class PromptStore:
    """Thread-safe store of the latest prompts per person id and kind.

    ``expire_after_s``: how long a prompt keeps applying after its stamp.
    ``match_tolerance_s``: how far before its stamp a prompt may already apply (clock skew
    between publishers).
    """

    def __init__(self, expire_after_s: float = 2.0, match_tolerance_s: float = 0.05) -> None:
        if expire_after_s <= 0 or match_tolerance_s < 0:
            raise ValueError("expire_after_s must be > 0 and match_tolerance_s >= 0, got "
                             f"{expire_after_s} and {match_tolerance_s}")
        self._expire_ns = int(expire_after_s * NS_PER_S)
        self._tolerance_ns = int(match_tolerance_s * NS_PER_S)
        self._people: dict[int, _PersonSlots] = {}
        self._pairs: dict[tuple[int, int], int] = {}  # pair -> stamp
        self._lock = threading.Lock()

    # -- input ----------------------------------------------------------------------------

    def set_box(self, person_id: int, stamp_ns: int, box, score: float = 1.0) -> list[Drop]:
        """Store a box prompt (xyxy, original pixels); checked against the frame later."""
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        if b.shape != (4,):
            return [Drop("box_malformed", f"id {person_id}: expected 4 numbers, got {b.size}")]
        with self._lock:
            self._slots(person_id).box = _Stamped(stamp_ns, (b, float(score)))
        return []

    def set_mask(self, person_id: int, stamp_ns: int, mask) -> list[Drop]:
        """Store a binary mask prompt (H, W); its size is checked against the frame later."""
        m = np.asarray(mask)
        if m.ndim != 2 or m.size == 0:
            return [Drop("mask_malformed", f"id {person_id}: mask must be a non-empty 2D "
                                           f"array, got shape {m.shape}")]
        if not m.any():
            return [Drop("mask_empty", f"id {person_id}: mask has no foreground pixel")]
        with self._lock:
            self._slots(person_id).mask = _Stamped(stamp_ns, m.astype(bool))
        return []

    def set_text(self, person_id: int, stamp_ns: int, text: str) -> list[Drop]:
        """Store a text prompt ("tall muscular man"); empty text is refused, not a reset."""
        if not isinstance(text, str) or not text.strip():
            return [Drop("text_empty", f"id {person_id}: empty text prompt ignored "
                                       "(prompts expire on their own; use clear() to remove)")]
        with self._lock:
            self._slots(person_id).text = _Stamped(stamp_ns, text.strip())
        return []

    def set_interaction(self, stamp_ns: int, pairs) -> list[Drop]:
        """Store interaction pairs ``[(a, b), ...]``: these people attend to each other."""
        drops = []
        with self._lock:
            for pair in pairs:
                a, b = (int(v) for v in pair)
                if a == b:
                    drops.append(Drop("pair_same_id", f"interaction pair ({a}, {b}) names "
                                                      "the same person twice"))
                    continue
                self._pairs[(min(a, b), max(a, b))] = stamp_ns
        return drops

    def clear(self, person_id: int | None = None) -> None:
        """Forget every prompt of ``person_id`` (and its pairs), or everything when None."""
        with self._lock:
            if person_id is None:
                self._people.clear()
                self._pairs.clear()
                return
            self._people.pop(person_id, None)
            self._pairs = {p: s for p, s in self._pairs.items() if person_id not in p}

    # -- output ---------------------------------------------------------------------------

    def for_frame(self, stamp_ns: int, width: int, height: int) -> tuple[FramePrompts, list[Drop]]:
        """The prompts that apply to a frame of the given stamp and size, and what was dropped."""
        drops: list[Drop] = []
        people = []
        with self._lock:
            self._expire(stamp_ns)
            slots_by_id = sorted(self._people.items())
            pairs = frozenset(p for p, s in self._pairs.items() if self._applies(s, stamp_ns))
        for pid, slots in slots_by_id:
            box = mask = text = None
            score = 1.0
            if slots.box and self._applies(slots.box.stamp_ns, stamp_ns):
                raw, score = slots.box.value
                box, drop = check_box(raw, width, height)
                if drop:
                    drops.append(Drop(drop.kind, f"id {pid}: {drop.detail}"))
            if slots.mask and self._applies(slots.mask.stamp_ns, stamp_ns):
                mask = slots.mask.value
                if mask.shape != (height, width):
                    drops.append(Drop("mask_wrong_size", f"id {pid}: mask is "
                                      f"{mask.shape[1]}x{mask.shape[0]}, image is "
                                      f"{width}x{height}"))
                    mask = None
            if slots.text and self._applies(slots.text.stamp_ns, stamp_ns):
                text = slots.text.value
            if box is not None or mask is not None or text is not None:
                people.append(PersonPrompt(pid, box, score, mask, text))
        return FramePrompts(tuple(people), pairs), drops

    # -- internals ------------------------------------------------------------------------

    def _slots(self, person_id: int) -> _PersonSlots:
        return self._people.setdefault(int(person_id), _PersonSlots())

    def _applies(self, prompt_stamp_ns: int, frame_stamp_ns: int) -> bool:
        return (prompt_stamp_ns - self._tolerance_ns <= frame_stamp_ns
                <= prompt_stamp_ns + self._expire_ns)

    def _expire(self, now_ns: int) -> None:
        """Forget prompts that can no longer apply to a frame at ``now_ns`` or later."""
        horizon = now_ns - self._expire_ns
        for pid in list(self._people):
            slots = self._people[pid]
            for name in ("box", "mask", "text"):
                item = getattr(slots, name)
                if item is not None and item.stamp_ns < horizon:
                    setattr(slots, name, None)
            if slots.box is None and slots.mask is None and slots.text is None:
                del self._people[pid]
        self._pairs = {p: s for p, s in self._pairs.items() if s >= horizon}

