"""Latest-frame-wins hand-off between a camera callback and one processing worker.

A camera publishes at its own rate; the estimator takes as long as it takes. Queueing frames
would add latency without bound, so there is one slot: a frame that arrives while another is
waiting replaces it and the replaced frame is counted as dropped. The callback never blocks.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """One waiting frame at most; ``put`` never blocks, ``take`` waits for a frame."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._cond = threading.Condition()
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer a frame; returns True if it replaced a waiting one (that one is dropped)."""
        with self._cond:
            replaced = self._has_item
            self._item, self._has_item = item, True
            self.received += 1
            self.dropped += replaced
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The waiting frame, or None on timeout or once closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    @property
    def waiting(self) -> bool:
        """True while a frame waits for the worker."""
        with self._cond:
            return self._has_item

    def close(self) -> None:
        """Wake the worker and make every later ``take`` return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class FrameWorker(Generic[T]):
    """A daemon thread that feeds the slot's frames, one at a time, to ``process``.

    Exceptions from ``process`` go to ``on_error`` and the worker carries on with the next
    frame: one bad frame must not stop a robot's perception.
    """

    def __init__(self, slot: LatestFrameSlot[T], process: Callable[[T], None],
                 on_error: Callable[[BaseException], None], name: str = "phmr-worker") -> None:
        self._slot = slot
        self._process = process
        self._on_error = on_error
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._slot.close()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._slot.take()
            if item is None:
                return
            try:
                self._process(item)
            except Exception as err:  # noqa: BLE001 - reported, the stream goes on
                self._on_error(err)
            self.processed += 1
