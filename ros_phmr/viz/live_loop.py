"""``ros-phmr live``: camera/video/synthetic frames -> pipeline -> Foxglove, without ROS.

For users with a GPU box and no ROS graph: open Foxglove, connect to ws://HOST:PORT.

Latest frame wins, as in the node: a reader thread takes frames from the source at the source's
pace (video files and the synthetic scene are paced to their frame rate, a camera runs as fast
as it delivers) and hands them over through a one-frame slot; a frame that arrives while the
previous one still waits replaces it and is counted as dropped. So a slow model shows the
newest picture with a lower rate, never a growing delay.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Union

from ..frame_slot import LatestFrameSlot
from ..offline.estimator import Estimator, open_estimator
from ..offline.sources import FrameSource, intrinsics_or_default, open_source
from ..pipeline import PipelineConfig
from ..runtime.interrupt import StopRequest
from .live import FoxgloveLive

_TAKE_TIMEOUT_S = 0.2      # how often the main loop wakes up (keeps Ctrl-C responsive)


@dataclass(frozen=True)
class LiveSummary:
    processed: int            # frames estimated and published
    dropped: int              # frames replaced by a newer one while the model was busy
    interrupted: bool = False


def _read_frames(source: FrameSource, slot: LatestFrameSlot, stop: threading.Event, errors: list) -> None:
    """Reader thread: put every frame into ``slot`` at the source's pace; close the slot at the end."""
    pace = source.kind in ("video", "synthetic") and not getattr(source, "device", False)
    start_wall, first_stamp = time.perf_counter(), None
    try:
        for frame in source:
            if stop.is_set():
                break
            if pace:
                first_stamp = frame.stamp_ns if first_stamp is None else first_stamp
                ahead = (frame.stamp_ns - first_stamp) / 1e9 - (time.perf_counter() - start_wall)
                if ahead > 0 and stop.wait(ahead):
                    break
            slot.put(frame)
    except Exception as err:          # handed to the main thread, which reports it
        errors.append(err)
    finally:
        slot.close()


def run_live(source_spec: str, model: Union[PipelineConfig, Estimator], *, host: str = "127.0.0.1",
             port: int = 8765, scene_rate_hz: float = 10.0, max_frames: int = 0,
             on_ready: Optional[Callable[[FoxgloveLive], None]] = None, log=print) -> LiveSummary:
    """Serve until the source ends, ``max_frames`` frames are processed (0 = no limit) or Ctrl-C.

    ``model``: a PipelineConfig (loaded once the server listens) or a loaded Estimator to reuse.
    ``on_ready(server)`` runs once the server listens and the model is loaded (tests use it).
    """
    source = open_source(source_spec)
    estimator, owned = None, False
    slot: LatestFrameSlot = LatestFrameSlot()
    stop, errors = threading.Event(), []
    reader = threading.Thread(target=_read_frames, args=(source, slot, stop, errors), name="phmr-live-reader",
                              daemon=True)
    done = 0
    try:
        with FoxgloveLive(host=host, port=port, scene_rate_hz=scene_rate_hz) as live:   # a taken port fails fast
            estimator, owned = open_estimator(model)
            log(f"ros-phmr live: {source.description}; Foxglove: open a connection to {live.url}  "
                "(Ctrl-C stops)")
            if on_ready is not None:
                on_ready(live)
            reader.start()
            try:
                with StopRequest() as ctrl_c:
                    while not ctrl_c.requested and (not max_frames or done < max_frames):
                        frame = slot.take(timeout=_TAKE_TIMEOUT_S)
                        if frame is None:
                            if not reader.is_alive() and not slot.waiting:
                                break                                   # the source has ended
                            continue
                        K = intrinsics_or_default(frame)
                        estimate = estimator.estimate(frame.image, K, frame.stamp_ns)
                        live.publish(time.time_ns(), frame.image, K, estimate.people, estimator.faces,
                                     estimate.interactions, frame.frame_id)
                        done += 1
                interrupted = ctrl_c.requested
            except KeyboardInterrupt:
                interrupted = True
            if interrupted:
                log(f"ros-phmr live: stopped after {done} frames ({slot.dropped} dropped while busy)")
                return LiveSummary(done, slot.dropped, interrupted=True)
        if errors:
            raise ValueError(f"{source.description}: {errors[0]}")
        log(f"ros-phmr live: finished after {done} frames ({slot.dropped} dropped while busy)")
        return LiveSummary(done, slot.dropped)
    finally:
        stop.set()
        slot.close()
        if reader.is_alive():
            reader.join(timeout=5.0)
        if owned:
            estimator.close()
        source.close()
