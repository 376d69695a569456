"""``ros-phmr live``: camera/video/synthetic frames -> pipeline -> Foxglove, without ROS.

For users with a GPU box and no ROS graph: open Foxglove, connect to ws://HOST:PORT. Video
files and the synthetic scene are paced to their frame rate (a frame is never shown early;
a slow pipeline just drops behind); a camera device runs as fast as it delivers.
"""
from __future__ import annotations

import time
from typing import Callable, Optional, Union

from ..offline.estimator import Estimator, open_estimator
from ..offline.sources import intrinsics_or_default, open_source
from ..pipeline import PipelineConfig
from .live import FoxgloveLive


def run_live(source_spec: str, model: Union[PipelineConfig, Estimator], *, host: str = "127.0.0.1", port: int = 8765,
             scene_rate_hz: float = 10.0, max_frames: int = 0, realtime: bool = True,
             on_ready: Optional[Callable[[FoxgloveLive], None]] = None, log=print) -> int:
    """Serve until the source ends, ``max_frames`` frames (0 = no limit) or Ctrl-C; returns frames done.

    ``model``: a PipelineConfig (loaded once the server listens) or a loaded Estimator to reuse.
    ``on_ready(server)`` runs once the server listens and the model is loaded (tests use it).
    """
    source = open_source(source_spec)
    estimator, owned = None, False
    try:
        with FoxgloveLive(host=host, port=port, scene_rate_hz=scene_rate_hz) as live:   # a taken port fails fast
            estimator, owned = open_estimator(model)
            log(f"ros-phmr live: {source.description}; Foxglove: open a connection to {live.url}  "
                "(Ctrl-C stops)")
            if on_ready is not None:
                on_ready(live)
            done, start_wall, first_stamp = 0, time.perf_counter(), None
            pace = realtime and source.kind in ("video", "synthetic") and not getattr(source, "device", False)
            try:
                for frame in source:
                    if max_frames and done >= max_frames:
                        break
                    if first_stamp is None:
                        first_stamp = frame.stamp_ns
                    if pace:
                        ahead = (frame.stamp_ns - first_stamp) / 1e9 - (time.perf_counter() - start_wall)
                        if ahead > 0:
                            time.sleep(ahead)
                    K = intrinsics_or_default(frame)
                    estimate = estimator.estimate(frame.image, K, frame.stamp_ns)
                    live.publish(time.time_ns(), frame.image, K, estimate.people, estimator.faces,
                                 estimate.interactions, frame.frame_id)
                    done += 1
            except KeyboardInterrupt:
                log(f"ros-phmr live: stopped after {done} frames")
                return done
        log(f"ros-phmr live: source ended after {done} frames")
        return done
    finally:
        if owned:
            estimator.close()
        source.close()
