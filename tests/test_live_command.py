"""``ros-phmr live`` end to end: synthetic frames -> real pipeline (tiny random weights) ->
Foxglove server -> a real WebSocket client; and a taken port as a clear CLI error."""
import socket
import threading
import time


from foxglove_ws_client import run_receive
from offline_inputs import shared_estimator, synthetic_frames, write_video
from ros_phmr.cli import main
from ros_phmr.viz import SCENE_TOPIC
from ros_phmr.viz.live_loop import run_live
from terminal_signals import sigint_as_on_a_terminal  # noqa: F401  (fixture)


def test_live_synthetic_serves_scene_updates_with_one_mesh_per_person():
    ready = threading.Event()
    server = {}

    def on_ready(live):
        server["url"] = live.url
        ready.set()
        deadline = time.monotonic() + 20                  # start publishing once the client listens
        while not live.subscribed(SCENE_TOPIC) and time.monotonic() < deadline:
            time.sleep(0.02)

    result = {}
    thread = threading.Thread(target=lambda: result.update(done=run_live(
        "synthetic", shared_estimator(), port=0, scene_rate_hz=1000.0, max_frames=6, on_ready=on_ready,
        log=lambda text: None)))
    thread.start()
    try:
        assert ready.wait(60)
        got = run_receive(server["url"], [SCENE_TOPIC], 2, timeout_s=60)
    finally:
        thread.join(60)
    assert result["done"].processed == 6  # more frames than read: the server outlives the reads
    for _log_time, update in got["messages"][SCENE_TOPIC]:
        meshes = [e for e in update.entities if len(e.triangles)]
        bodies = [e for e in update.entities if "_body_" in e.id]
        assert 1 <= len(meshes) == len(bodies) <= 2       # max_people=2 in the tiny config
        assert all(len(e.triangles[0].points) == 10475 for e in meshes)
        assert all(len(e.triangles[0].indices) == 3 * 20908 for e in meshes)


def test_latest_frame_wins(tmp_path):
    """A 300 fps video outruns the model: frames that arrive while it is busy are replaced by
    newer ones and counted, never queued."""
    video = write_video(tmp_path / "fast.avi", synthetic_frames(30), fps=300.0)
    summary = run_live(str(video), shared_estimator(), port=0, log=lambda text: None)
    assert summary.processed + summary.dropped == 30
    assert summary.dropped > 0 and summary.processed >= 1


def test_live_cli_port_in_use(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        rc = main(["live", "--source", "synthetic", "--port", str(port), "--device", "cpu"])
    assert rc == 1
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_live_cli_unreadable_source(tmp_path, capsys):
    assert main(["live", "--source", str(tmp_path / "missing.mp4")]) == 1
    assert "missing.mp4 does not exist" in capsys.readouterr().err


def test_ctrl_c_stops_an_endless_source_cleanly(sigint_as_on_a_terminal):
    """A real SIGINT while `live` serves the endless synthetic source (main thread, as on a terminal)."""
    import os
    import signal

    logs = []

    def interrupt_soon(live):
        def send():
            time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=send, daemon=True).start()

    summary = run_live("synthetic", shared_estimator(), port=0, on_ready=interrupt_soon, log=logs.append)
    assert summary.interrupted and summary.processed >= 1
    assert "stopped after" in logs[-1]
    assert signal.getsignal(signal.SIGINT) is sigint_as_on_a_terminal                 # restored
