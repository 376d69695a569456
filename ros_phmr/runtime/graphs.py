"""CUDA-graph capture and replay of a fixed-shape function.

At batch 1 the models launch thousands of small kernels per frame; a captured graph replays
them with one launch and no Python in between. The captured function reads only static input
tensors (filled in place before each replay) and its outputs are static tensors overwritten by
the next replay: read them before replaying again.
"""
from typing import Callable, Dict, Hashable, Optional

import torch

WARMUP_CALLS = 2  # lazy inits (cuBLAS handles, autotuning, caches) happen before the capture


class CapturedGraph:
    """``fn()`` captured once after warm-up calls; ``replay()`` returns its outputs.

    ``capture_stream``: graphs that may replay concurrently (on different streams) must be
    captured on different streams. cuBLAS keeps one workspace per (handle, stream), and its
    split-K GEMMs keep their semaphores there: two graphs captured on torch's one default
    capture stream bake in the same workspace, and replayed side by side they hang the GPU."""

    def __init__(self, fn: Callable[[], object], warmup: int = WARMUP_CALLS,
                 capture_stream: Optional[torch.cuda.Stream] = None):
        stream = capture_stream or torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(warmup):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, stream=capture_stream):
            self.outputs = fn()

    def replay(self):
        self.graph.replay()
        return self.outputs


class GraphCache:
    """Captured graphs by key (e.g. ("decoder", people_bucket)), built on first use."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._graphs: Dict[Hashable, CapturedGraph] = {}

    def run(self, key: Hashable, fn: Callable[[], object],
            capture_stream: Optional[torch.cuda.Stream] = None):
        """Replay the graph of ``key`` on the current stream (capturing ``fn`` first, on
        ``capture_stream`` if given, see CapturedGraph), or call ``fn`` when disabled."""
        if not self.enabled:
            return fn()
        graph = self._graphs.get(key)
        if graph is None:
            graph = self._graphs[key] = CapturedGraph(fn, capture_stream=capture_stream)
        return graph.replay()

    def __len__(self) -> int:
        return len(self._graphs)

    def clear(self) -> None:
        self._graphs.clear()
