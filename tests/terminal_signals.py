"""A fixture for tests that send themselves a real SIGINT."""
import signal

import pytest


@pytest.fixture
def sigint_as_on_a_terminal():
    """SIGINT raises KeyboardInterrupt, as in a terminal, even when the test run itself was started
    with it ignored (a background job of a script inherits SIG_IGN); restored afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield signal.default_int_handler
    signal.signal(signal.SIGINT, before)
