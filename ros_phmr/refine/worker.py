"""Refinement off the caller's thread: a robot's node submits the latest people and
constraints and gets the refined people back by callback, never blocking its frame loop.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

import numpy as np

from ros_phmr.drops import Drop
from ros_phmr.people import PersonEstimate
from ros_phmr.refine.constraints import ContactConstraint, validate_constraint
from ros_phmr.refine.refiner import LOG, ContactRefiner, RefineResult

RefineCallback = Callable[[list, float], None]


class RefineWorker:
    """Refinement on a thread: ``submit`` returns at once; the latest request wins.

    A request that arrives while another waits replaces it (the replaced one is counted); a
    request with bad constraints is refused at ``submit`` (each bad constraint logged and
    returned as a Drop; the valid ones of the same request still run) and never disturbs the
    request in progress or waiting. Results go to ``callback(people, stamp)`` on the worker
    thread; an exception in a refinement is logged and the worker carries on.
    """

    def __init__(self, refiner: ContactRefiner, callback: RefineCallback,
                 logger: logging.Logger | None = None) -> None:
        self.refiner = refiner
        self.callback = callback
        self.log = logger or LOG
        self.counts = {"submitted": 0, "replaced": 0, "rejected": 0, "completed": 0, "failed": 0}
        self.last_result: RefineResult | None = None
        self._pending = None
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="contact-refine", daemon=True)
        self._thread.start()

    def submit(self, people: Sequence[PersonEstimate], constraints: Sequence[ContactConstraint],
               K, stamp) -> list[Drop]:
        """Queue a refinement of ``people`` under ``constraints``; returns what was refused."""
        drops, good = [], []
        ids = [int(p.track_id) for p in people]
        for c in constraints:
            try:
                validate_constraint(c, ids, self.refiner.region_names)
                good.append(c)
            except ValueError as exc:
                drops.append(Drop("contact_constraint_invalid", str(exc)))
        if len(set(ids)) != len(ids):
            drops.append(Drop("contact_people_invalid", f"people must have distinct track ids, got {ids}"))
            good = []
        if not constraints:
            drops.append(Drop("contact_constraint_invalid", "no contact constraint given"))
        for d in drops:
            self.log.warning("contact refinement: %s", d)
        with self._cond:
            self.counts["rejected"] += len(drops)
            if not good or self._closed:
                return drops
            self.counts["submitted"] += 1
            if self._pending is not None:
                self.counts["replaced"] += 1
            self._pending = (list(people), good, np.asarray(K, np.float64), stamp)
            self._cond.notify()
        return drops

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running (for tests and shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    return
                people, constraints, K, stamp = self._pending
                self._pending, self._busy = None, True
            try:
                result = self.refiner.refine(people, constraints, K)
                self.last_result = result
                self.callback(result.people, stamp)
                with self._cond:
                    self.counts["completed"] += 1
            except Exception:  # a robot's node keeps running; the failure is logged
                self.log.exception("contact refinement failed")
                with self._cond:
                    self.counts["failed"] += 1
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
