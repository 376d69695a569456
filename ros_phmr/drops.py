"""Counted drops: bad input is dropped or corrected, logged once per kind, and counted.

A robot's node must keep running whatever other nodes publish. Every place that refuses or
corrects an input reports it here; the node logs the first occurrence of each kind (so a
misconfigured publisher at 30 Hz does not flood the log) and publishes the counts in
``/diagnostics``.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Drop:
    """One refused or corrected input: ``kind`` is a stable key, ``detail`` the specifics."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class DropCounter:
    """Thread-safe counts of drops by kind; tells the caller when a kind is new."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, drop: Drop) -> bool:
        """Count ``drop``; True the first time its kind is seen (log it then)."""
        with self._lock:
            self._counts[drop.kind] += 1
            return self._counts[drop.kind] == 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
