"""Latest frame wins: the producer never blocks, waiting frames are replaced and counted."""
import threading
import time

from ros_phmr.frame_slot import FrameWorker, LatestFrameSlot


def test_put_replaces_waiting_frame_and_counts_the_drop():
    slot = LatestFrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.take(timeout=0) == 3
    assert (slot.received, slot.dropped) == (3, 2)
    assert slot.take(timeout=0.01) is None


def test_slow_worker_sees_latest_frames_and_every_frame_is_accounted_for():
    slot = LatestFrameSlot()
    seen = []
    gate = threading.Event()

    def process(frame):
        gate.wait()  # hold the worker busy until the producer has burst
        seen.append(frame)

    worker = FrameWorker(slot, process, on_error=lambda e: None)
    worker.start()
    slot.put(0)
    while slot.waiting:  # wait until the worker took frame 0
        time.sleep(0.001)
    for frame in range(1, 50):
        slot.put(frame)  # never blocks although the worker is busy
    gate.set()
    deadline = time.time() + 5
    while worker.processed < 2 and time.time() < deadline:
        time.sleep(0.001)
    worker.stop()
    assert seen == [0, 49]
    assert slot.dropped == 48
    assert slot.received == worker.processed + slot.dropped


def test_worker_survives_a_failing_frame():
    slot = LatestFrameSlot()
    errors, done = [], []

    def process(frame):
        if frame == "bad":
            raise ValueError("unsupported encoding")
        done.append(frame)

    worker = FrameWorker(slot, process, on_error=errors.append)
    worker.start()
    slot.put("bad")
    deadline = time.time() + 5
    while not errors and time.time() < deadline:
        time.sleep(0.001)
    slot.put("good")
    while not done and time.time() < deadline:
        time.sleep(0.001)
    worker.stop()
    assert [str(e) for e in errors] == ["unsupported encoding"] and done == ["good"]
    assert not worker.alive
