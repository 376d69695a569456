"""Pipeline + tracker + interaction analysis in one call: what the node, live view and offline
processing run per frame.

Prompts are keyed by track id. A text or interaction prompt for a tracked id that comes without
a box or mask is given that track's box (predicted to the frame's stamp) before the pipeline
runs, so "the person in red" said about id 3 keeps following person 3 until the prompt expires.
The pipeline then decodes that person under id 3 and the tracker binds the result to track 3.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ros_phmr.drops import Drop
from ros_phmr.interaction import InteractionAnalyzer, InteractionEstimate, SelfContactEstimate
from ros_phmr.people import PROMPT_BOX, PersonEstimate
from ros_phmr.prompts import FramePrompts, PersonPrompt, check_box
from ros_phmr.refine import pose_people
from ros_phmr.tracking import OneEuroConfig, OneEuroFilter, Tracker, TrackerConfig

_ROOT_JOINT = 0  # pelvis
_SMOOTHED = ("global_orient", "body_pose", "betas", "transl")


@dataclass(frozen=True)
class PerceptionConfig:
    """``tracking``: give people stable ids (off: ids as the pipeline gave them).
    ``interactions`` / ``self_contact``: run the contact analysis; ``contact_threshold`` (m).
    ``smoothing``: One Euro filtering of each track's pose, shape and translation (None = off);
    smoothed people are re-posed with the body model. Rotations are filtered as axis-angle
    vectors, which is sound for the small frame-to-frame changes of a body joint but blurs a
    global orientation that crosses 180 degrees.
    ``report_tentative``: also return people whose track is not confirmed yet (id -1).
    """

    tracking: bool = True
    tracker: TrackerConfig = TrackerConfig()
    interactions: bool = True
    self_contact: bool = True
    contact_threshold: float = 0.02
    smoothing: OneEuroConfig | None = None
    report_tentative: bool = False


@dataclass
class PerceptionResult:
    people: list[PersonEstimate]
    interactions: list[InteractionEstimate] = field(default_factory=list)
    self_contacts: list[SelfContactEstimate] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    drops: list[Drop] = field(default_factory=list)


class Perception:
    """One frame in, tracked people and their contacts out (see the module docstring)."""

    def __init__(self, pipeline, config: PerceptionConfig = PerceptionConfig()) -> None:
        self.pipeline = pipeline
        self.config = config
        self.tracker = Tracker(config.tracker)
        self.analyzer = (InteractionAnalyzer.from_body(pipeline.body, config.contact_threshold)
                         if config.interactions else None)
        self._filters: dict[int, dict[str, OneEuroFilter]] = {}
        self._last_stamp: float | None = None

    def reset(self) -> None:
        """Forget every track (ids start again) and filter state."""
        self.tracker.reset()
        self._filters.clear()
        self._last_stamp = None

    def process(self, image: np.ndarray, K: np.ndarray, prompts: FramePrompts | None = None,
                stamp_s: float | None = None) -> PerceptionResult:
        """Run the pipeline on ``image`` (H, W, 3) uint8 RGB, then track and analyse contacts.

        ``stamp_s``: the image's time in seconds (None: one tracker frame period after the
        previous frame); stamps must increase.
        """
        if stamp_s is None:
            stamp_s = (0.0 if self._last_stamp is None
                       else self._last_stamp + self.config.tracker.frame_period_s)
        if self._last_stamp is not None and stamp_s <= self._last_stamp:
            raise ValueError(f"stamp {stamp_s} s is not after the previous frame's "
                             f"{self._last_stamp} s")
        prompts = prompts or FramePrompts()
        drops: list[Drop] = []
        resolved = self._resolve_prompts(prompts, image.shape[1], image.shape[0], stamp_s, drops)
        frame = self.pipeline.process(image, K, resolved)
        self._last_stamp = stamp_s
        timings = dict(frame.timings)
        drops = list(frame.drops) + drops
        people = self._unmark_resolved_boxes(frame.people, prompts, resolved)

        clock = time.perf_counter()
        if self.config.tracking:
            people = self._track(people, stamp_s)
            if self.config.smoothing is not None:
                people = self._smooth(people, K, stamp_s)
        timings["tracking"] = time.perf_counter() - clock

        clock = time.perf_counter()
        interactions, self_contacts = [], []
        # Contacts of people with an id (tentative ones, -1, are left out); without tracking
        # the pipeline's ids may repeat, and then there is nothing to name a pair by.
        named = [p for p in people if p.track_id >= 0]
        ids = [p.track_id for p in named]
        if self.analyzer is not None and named and len(set(ids)) == len(ids):
            interactions, self_contacts = self.analyzer.analyze(
                self._vertices(named, K), ids, prompts.interaction_pairs,
                self_contact=self.config.self_contact)
        timings["interaction"] = time.perf_counter() - clock
        return PerceptionResult(people, interactions, self_contacts, timings, drops)

    # -- steps ----------------------------------------------------------------------------

    def _resolve_prompts(self, prompts: FramePrompts, width: int, height: int, stamp_s: float,
                         drops: list[Drop]) -> FramePrompts:
        """Give prompted ids without a box or mask their track's box (predicted to the stamp)."""
        if not self.config.tracking:
            return prompts
        people = list(prompts.people)
        named = {p.person_id for p in people}
        for a, b in prompts.interaction_pairs:
            for pid in (a, b):
                if pid not in named:
                    people.append(PersonPrompt(pid))
                    named.add(pid)
        out = []
        for p in people:
            if p.box is None and p.mask is None:
                box = self.tracker.last_box(p.person_id, stamp_s)
                if box is None:
                    drops.append(Drop("prompt_track_unknown", f"id {p.person_id}: no track with "
                                      "that id to place the prompt on"))
                    continue
                clipped, _ = check_box(box, width, height)
                if clipped is None:
                    drops.append(Drop("prompt_track_off_image", f"id {p.person_id}: the track's "
                                      "box lies outside the image"))
                    continue
                if p.text is None:  # only named in an interaction pair
                    out.append(PersonPrompt(p.person_id, clipped, 1.0))
                    continue
                p = replace(p, box=clipped)
            out.append(p)
        return FramePrompts(tuple(sorted(out, key=lambda q: q.person_id)), prompts.interaction_pairs)

    @staticmethod
    def _unmark_resolved_boxes(people: list[PersonEstimate], given: FramePrompts,
                               resolved: FramePrompts) -> list[PersonEstimate]:
        """A box taken from the tracker is not a box prompt: clear that bit again."""
        had_box = {p.person_id for p in given.people if p.box is not None or p.mask is not None}
        got_box = {p.person_id for p in resolved.people if p.box is not None} - had_box
        return [replace(p, prompt_kinds=p.prompt_kinds & ~PROMPT_BOX)
                if p.prompt_id in got_box else p for p in people]

    def _track(self, people: list[PersonEstimate], stamp_s: float) -> list[PersonEstimate]:
        boxes = np.array([p.box_xyxy for p in people], np.float64).reshape(-1, 4)
        roots = np.array([p.joints_3d[_ROOT_JOINT] for p in people], np.float64).reshape(-1, 3)
        hints = [p.track_id for p in people]
        ids = self.tracker.update(boxes, roots, stamp_s, hints)
        out = [replace(p, track_id=int(i)) for p, i in zip(people, ids)
               if i >= 0 or self.config.report_tentative]
        live = set(self.tracker.active_ids)
        self._filters = {k: v for k, v in self._filters.items() if k in live}
        return out

    def _smooth(self, people: list[PersonEstimate], K, stamp_s: float) -> list[PersonEstimate]:
        """One Euro filtered parameters per track, re-posed in one batched forward."""
        smoothed = []
        for p in people:
            if p.track_id < 0:
                smoothed.append(p)
                continue
            filters = self._filters.setdefault(
                p.track_id, {name: OneEuroFilter(self.config.smoothing) for name in _SMOOTHED})
            smoothed.append(replace(p, **{name: filters[name](getattr(p, name), stamp_s)
                                          for name in _SMOOTHED}))
        with_vertices = any(p.vertices is not None for p in people)
        return pose_people(self.pipeline.body, smoothed, K, with_vertices=with_vertices)

    def _vertices(self, people: list[PersonEstimate], K) -> torch.Tensor:
        """Vertices (N, V, 3) on the body model's device (posed again when not computed)."""
        device = self.pipeline.body.v_template.device
        if all(p.vertices is not None for p in people):
            return torch.as_tensor(np.stack([p.vertices for p in people]), device=device)
        posed = pose_people(self.pipeline.body, people, K, with_vertices=True)
        return torch.as_tensor(np.stack([p.vertices for p in posed]), device=device)
