"""Ctrl-C for long loops: real SIGINTs sent to this process."""
import os
import signal
import threading
import time

import pytest

from ros_phmr.runtime.interrupt import StopRequest
from terminal_signals import sigint_as_on_a_terminal  # noqa: F401  (fixture)


def _sigint_and_wait(stop: StopRequest) -> None:
    os.kill(os.getpid(), signal.SIGINT)
    deadline = time.monotonic() + 5
    while not stop.requested and time.monotonic() < deadline:   # the handler runs between bytecodes
        time.sleep(0.01)


def test_first_sigint_is_a_request_second_interrupts_and_the_handler_is_restored(sigint_as_on_a_terminal):
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with StopRequest() as stop:
            _sigint_and_wait(stop)
            assert stop.requested                      # no exception yet: the loop decides when to stop
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)                            # the second one raises here
    assert signal.getsignal(signal.SIGINT) is before


def test_off_the_main_thread_nothing_is_installed(sigint_as_on_a_terminal):
    seen = {}

    def worker():
        with StopRequest() as stop:
            seen["handler"] = signal.getsignal(signal.SIGINT)
            seen["requested"] = stop.requested

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"handler": signal.getsignal(signal.SIGINT), "requested": False}
    assert signal.getsignal(signal.SIGINT) is sigint_as_on_a_terminal


def test_an_ignored_sigint_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopRequest() as stop:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            assert not stop.requested
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
