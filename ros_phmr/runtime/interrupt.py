"""Ctrl-C for long loops: the first SIGINT asks the loop to stop at its next frame, a second one
interrupts at once.

Why: a KeyboardInterrupt raised wherever the main thread happens to be can land in a finaliser
or a weakref callback, where Python prints "Exception ignored" and drops it, and a loop over an
endless source then never ends; it can also cut a frame in half. A flag the loop checks at frame
boundaries is neither lost nor mid-frame. Off the main thread Python cannot install handlers, and
the loop sees plain KeyboardInterrupts as before; a process started with SIGINT ignored
(``nohup``, a background job of a script) keeps ignoring it, as Unix tools do.
"""
from __future__ import annotations

import signal
import threading


class StopRequest:
    """``with StopRequest() as stop: for ...: if stop.requested: break``."""

    def __init__(self):
        self.requested = False
        self._previous = None
        self._installed = False

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            if self._previous is not signal.SIG_IGN:
                signal.signal(signal.SIGINT, self._handle)
                self._installed = True
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:                       # asked twice: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> bool:
        if self._installed:
            # None: the previous handler was not installed from Python; Python's own is the sane default.
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)
            self._installed = False
        return False
