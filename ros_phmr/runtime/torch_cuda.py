"""The pipeline's GPU work as a few replayable stages (torch backend on CUDA).

Why stages and not one graph: the prompt fusion between detector and decoder is host logic (ids,
IoU with published prompts), so the frame is cut there. Everything else is captured:

  preprocess  (H, W):          uint8 frame -> letterboxed, normalised model inputs (one resample each)
  detector    (H, W):          Multi-HMR backbone, heads, top-k slots, SMPL-X, boxes of every slot
  encoder     (H, W):          PromptHMR backbone + neck + camera-ray conditioning (or the neck on
                               the detector's tokens when the backbone is shared)
  decoder     (H, W, bucket):  prompt tokens + two-way decoder for ``bucket`` people (padded)
  body        (H, W, bucket):  SMPL-X in fp32, axis-angle, 2D joints, packed for one read-back

Inputs live in static buffers (the frame on the device, copied from the caller's memory; K and
boxes through pinned host memory) that are filled before each replay. People are padded to the
next bucket (1, 2, ... 8, 12, 16, ... max_people) with "no box" prompts, whose outputs are
dropped; the decoder treats every person independently when nobody interacts, so padding changes
nothing for the real people.
Outputs are static tensors: the caller reads them (``read_people``) before the next frame.

Streams: upload, preprocess, encoder, decoder and body run in order on the current stream. With
both models and separate backbones, the detector (+ the read-back of its slots, marked by an
event) runs on a high-priority side stream beside PromptHMR's backbone, which does not need it:
its small kernels fill the SMs the big GEMMs leave idle. There the encoder is launched first
(``detector_beside``): a graph launch costs the host about 2 us per kernel (H200 host: 0.85 ms
for the detector's graph), which the backbone would otherwise wait for on an idle GPU. The host
waits for the detector's event only, so the prompt fusion runs while the PromptHMR backbone is
still busy on the GPU. With a shared backbone the encoder reads the detector's tokens, so
everything runs on one stream.
"""
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from ros_phmr.geometry.letterbox import letterbox_torch
from ros_phmr.model.multihmr.model import MultiHMROutput, person_image_boxes, place_bodies
from ros_phmr.model.prompthmr.prompts import PersonPrompts
from ros_phmr.runtime.graphs import GraphCache
from ros_phmr.runtime.people_pack import pack_people, person_tensors

PATCH = 14


def _letterbox_image(frame: torch.Tensor, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) normalised model input (the Letterbox is shape-only)."""
    return letterbox_torch(frame, size)[0]


def _host_tensor(frame: np.ndarray) -> torch.Tensor:
    """A CPU tensor over a C-contiguous frame's memory (no copy). BGR->RGB flips get one
    single-threaded host copy; read-only frames (ROS message buffers) are only read, so torch's
    warning about non-writable arrays does not apply to them."""
    if not frame.flags.c_contiguous:
        frame = np.ascontiguousarray(frame)
    if frame.flags.writeable:
        return torch.from_numpy(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(frame)


def people_buckets(max_people: int) -> List[int]:
    """Padded people counts that get their own decoder graph: every count up to 8, then
    multiples of 4, then max_people (padding costs at most 3 people's decoder work)."""
    if max_people < 1:
        raise ValueError(f"max_people must be >= 1, got {max_people}")
    small = list(range(1, min(max_people, 8) + 1))
    return small + [n for n in range(12, max_people, 4)] + ([max_people] if max_people > 8 else [])


def bucket_for(count: int, buckets: List[int]) -> int:
    for size in buckets:
        if count <= size:
            return size
    raise ValueError(f"{count} people exceed the largest bucket {buckets[-1]}")


class CudaStages:
    """Static buffers + captured graphs for one pipeline. Not thread-safe (one frame at a time)."""

    def __init__(self, *, device: torch.device, detector, decoder, shared_backbone: bool,
                 decoder_size: int, autocast: Callable, detection_threshold: float,
                 max_people: int, use_mean_hands: bool, compute_vertices: bool,
                 graphs: bool = True, engines: Optional[dict] = None,
                 compile_stages: bool = False):
        self.device = device
        self.detector, self.decoder = detector, decoder
        self.shared = shared_backbone
        self.decoder_size = decoder_size
        self.autocast = autocast
        self.threshold = float(detection_threshold)
        self.max_people = max_people
        self.use_mean_hands = use_mean_hands
        self.compute_vertices = compute_vertices
        self.cuda = device.type == "cuda"  # on the CPU (tests) the same stages run eagerly
        self.graphs = GraphCache(enabled=graphs and self.cuda)
        # ``compile_stages``: the work around the backbones (compiled by the pipeline) in fused
        # kernels too: letterbox (cast, resample, rounding, padding, normalisation), the
        # detector's heads and bodies, the decoder, SMPL-X. Fewer kernels also shorten each
        # graph launch on the host and leave the SMs to PromptHMR's backbone sooner.
        self._letterbox = (torch.compile(_letterbox_image, dynamic=False, fullgraph=True)
                           if compile_stages else _letterbox_image)
        compiled = torch.compile if compile_stages else (lambda fn: fn)
        self._detector_head = compiled(self._detector_head_eager)
        self._decode_people = compiled(self._decode_people_eager)
        self._body_tensors = compiled(self._body_tensors_eager)
        self.engines = engines or {}  # graph name -> ONNX Runtime / TensorRT runner (static people)
        self.buckets = [max_people] if "decoder" in self.engines else people_buckets(max_people)
        self._frames: Dict[tuple, torch.Tensor] = {}  # (H, W) -> device uint8 frame
        self._K = torch.zeros(3, 3, 3, device=device)  # original, detector input, decoder input
        self._K_host = self._pinned(torch.zeros(3, 3, 3))
        self._boxes: Dict[int, tuple] = {}  # bucket -> (device (b, 5), pinned (b, 5))
        self._readback: Dict[tuple, torch.Tensor] = {}  # key -> pinned copy of a packed result
        self._det_ready = torch.cuda.Event() if self.cuda else None  # detector results on the host
        overlap = self.cuda and detector is not None and decoder is not None and not shared_backbone
        self._detector_stream = torch.cuda.Stream(device, priority=-1) if overlap else None
        self._preprocessed = torch.cuda.Event() if overlap else None  # what the detector waits for
        self._shape = None
        self._pre = self._det = self._emb = self._params = None
        self._people = None

    # -- per frame --------------------------------------------------------------------

    def upload(self, image: np.ndarray, K: np.ndarray, K_detector: Optional[np.ndarray],
               K_decoder: Optional[np.ndarray]) -> None:
        """Frame (H, W, 3) uint8 to the device straight from pageable memory; the K's via pinned.

        The driver stages a pageable copy through its own pinned buffers, overlapping host copy
        and DMA. Measured on the H200 host (2026-11-21, 1920x1080): 0.39 ms against 0.60 for our
        np.copyto into pinned memory + DMA, and 0.43 against 0.64 with every core busy. (torch's
        OpenMP copy into pinned memory was 0.32 idle but 5.2 ms under load; host bands slower.)"""
        shape = tuple(image.shape[:2])
        device_frame = self._frames.get(shape)
        if device_frame is None:
            device_frame = self._frames[shape] = torch.empty(image.shape, dtype=torch.uint8, device=self.device)
        device_frame.copy_(_host_tensor(image), non_blocking=True)  # returns once the frame is read
        Ks = self._K_host.numpy()
        Ks[0] = K
        Ks[1] = K if K_detector is None else K_detector
        Ks[2] = K if K_decoder is None else K_decoder
        self._K.copy_(self._K_host, non_blocking=True)
        self._shape = shape

    def preprocess(self) -> None:
        frame = self._frames[self._shape]

        def run():
            out = {}
            if self.detector is not None:
                out["detector"] = self._letterbox(frame, self.detector.config.image_size)[None]
            if self.decoder is not None and not self.shared:
                out["decoder"] = self._letterbox(frame, self.decoder_size)[None]
            return out

        self._pre = self.graphs.run(("preprocess",) + self._shape, run)
        if self._preprocessed is not None:
            self._preprocessed.record()

    @property
    def detector_beside(self) -> bool:
        """The detector runs on its own stream beside the encoder, which should be launched first."""
        return self._detector_stream is not None

    def detect(self) -> None:
        """Launch the detector and the read-back of its per-slot results (no host wait), on the
        detector stream when there is one (its graphs are captured there, see CapturedGraph)."""
        stream = self._detector_stream
        if stream is None:
            self._launch_detector()
            return
        stream.wait_event(self._preprocessed)  # the frame and K, not an encoder launched since
        with torch.cuda.stream(stream):
            self._launch_detector(capture_stream=stream)

    def _launch_detector(self, capture_stream: Optional[torch.cuda.Stream] = None) -> None:
        pre, K = self._pre, self._K
        detector = self.detector

        def run():
            if "detector" in self.engines:
                tokens, out = self._engine_detector(pre["detector"], K[1][None])
                head = self._slot_tensors(out, K[0], K[1])
            else:
                with self.autocast():
                    tokens = detector.net.tokens(pre["detector"])  # (1, N, D)
                head = self._detector_head(tokens, K)
            packed, layout = pack_people(head)
            return {"tokens": tokens, "packed": packed, "layout": layout}

        self._det = self.graphs.run(("detector",) + self._shape, run, capture_stream=capture_stream)
        self._host_copy(("detector",) + self._shape, self._det["packed"])
        if self.cuda:
            self._det_ready.record()

    def _detector_head_eager(self, tokens: torch.Tensor, K: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Multi-HMR's detection and regression heads on its tokens (1, N, D), then every slot's
        tensors; K (3, 3, 3): original, detector input, decoder input."""
        net = self.detector.net
        with self.autocast():
            found, score_map = net.detect(tokens, self.threshold, max_people=self.max_people)
            out = net.regress(tokens, K[1][None], found, score_map)
        return self._slot_tensors(out, K[0], K[1])

    def _slot_tensors(self, out: MultiHMROutput, K: torch.Tensor, K_det: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Bodies of every detector slot and their boxes in the original image (K (3, 3); K_det
        of the detector's input): the box head's where there is one, else around the mesh. With
        the detector alone also everything a PersonEstimate needs."""
        detector = self.detector
        out = place_bodies(detector.body, out, detector.config.person_center_joint)
        vertices = out.vertices[0].float()  # (P, V, 3)
        head = {"valid": out.valid[0], "score": out.scores[0],
                "box": person_image_boxes(out, K, K_det)}  # (P, 4) pixels
        if self.decoder is None:
            head.update(person_tensors(
                out.rotmat[0], out.joints[0], K, vertices if self.compute_vertices else None,
                betas=out.betas[0], expression=out.expression[0], transl=out.transl[0]))
        return head

    def detections(self) -> Dict[str, np.ndarray]:
        """The detector's found people on the host, one row per valid slot (waits for the
        detector only). Only those rows are copied out of the read-back buffer, which the next
        frame overwrites: with vertices a slot is ~125 KB."""
        self.wait(main=False)
        host = self._readback[("detector",) + self._shape].numpy()
        layout = self._det["layout"]
        found = layout.unpack(host)["valid"] > 0.5
        return layout.unpack(host[found])  # boolean indexing copies

    def encode(self) -> None:
        """Launch PromptHMR's image encoder (runs on the GPU while the host fuses prompts)."""
        K, decoder = self._K, self.decoder
        pre, det = self._pre, self._det

        def run():
            engine = self.engines.get("encoder")
            if engine is not None:
                if self.shared:
                    return engine(tokens=det["tokens"], K=K[2][None])["embeddings"]
                return engine(image=pre["decoder"], K=K[2][None])["embeddings"]
            with self.autocast():
                if self.shared:
                    grid = self.decoder_size // PATCH
                    return decoder.encode_tokens(det["tokens"], grid, grid, K[2][None])
                return decoder.encode_images(pre["decoder"], K[2][None])

        self._emb = self.graphs.run(("encoder",) + self._shape, run)

    def decode(self, boxes: np.ndarray) -> int:
        """Launch the decoder for (n, 5) validated letterboxed boxes (+confidence); returns n."""
        count = boxes.shape[0]
        bucket = bucket_for(count, self.buckets)
        entry = self._boxes.get(bucket)
        if entry is None:
            entry = self._boxes[bucket] = (torch.zeros(bucket, 6, device=self.device),
                                           self._pinned(torch.zeros(bucket, 6)))
        device_rows, host_rows = entry  # per person: box (4), confidence, valid
        host = host_rows.numpy()
        host[:count, :5] = boxes
        host[:count, 5] = 1.0
        host[count:] = (0.0, 0.0, self.decoder_size, self.decoder_size, 0.0, 0.0)  # "no box" padding
        device_rows.copy_(host_rows, non_blocking=True)
        device_boxes, device_valid = device_rows[:, :5], device_rows[:, 5]
        K, emb = self._K, self._emb

        def run():
            engine = self.engines.get("decoder")
            if engine is not None:
                out = engine(embeddings=emb, K=K[2][None], boxes=device_boxes, valid=device_valid)
                return {name: out[name] for name in ("pose_6d", "betas", "transl")}
            return self._decode_people(emb, K[2][None], device_boxes)

        self._params = self.graphs.run(("decoder",) + self._shape + (bucket,), run)
        self._people = (count, bucket)
        return count

    def _decode_people_eager(self, embeddings, K: torch.Tensor, boxes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """PromptHMR's decoder for (b, 5) boxes of one image -> its SMPL-X parameters."""
        prompts = PersonPrompts(boxes=boxes, image_index=torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device),
                                masks=None, texts=None, interaction=False, num_images=1)
        with self.autocast():
            out = self.decoder.decode(embeddings, K, prompts)
        return {name: out[name] for name in ("pose_6d", "betas", "transl")}

    def body(self) -> None:
        """Launch SMPL-X (fp32) for the decoded people and pack everything for one read-back."""
        _, bucket = self._people
        params, K = self._params, self._K

        def run():
            return pack_people(self._body_tensors(params, K[0]))

        key = ("body",) + self._shape + (bucket,)
        packed, self._layout = self.graphs.run(key, run)
        self._host_copy(key, packed)
        self._body_key = key

    def _body_tensors_eager(self, params: Dict[str, torch.Tensor], K: torch.Tensor) -> Dict[str, torch.Tensor]:
        """SMPL-X (fp32) of the decoded parameters -> what a PersonEstimate needs."""
        out = self.decoder.bodies(params, use_mean_hands=self.use_mean_hands)
        return person_tensors(out["rotmats"], out["joints"], K, out["vertices"] if self.compute_vertices else None,
                              betas=out["betas"], transl=out["transl"])

    def read_people(self) -> Dict[str, np.ndarray]:
        """Decoded people's arrays on the host (waits for the GPU)."""
        count, _ = self._people
        self.wait()
        return self._layout.unpack(self._readback[self._body_key].numpy()[:count].copy())

    def _engine_detector(self, image: torch.Tensor, K: torch.Tensor):
        """The exported detector graph -> (tokens, MultiHMROutput with what place_bodies reads)."""
        out = self.engines["detector"](image=image, K=K)
        return out["tokens"], MultiHMROutput(
            valid=out["valid"] > 0.5, scores=out["scores"].float(), token_index=None, num_candidates=None,
            score_map=None, offset=None, loc=None, pose6d=None, cam=None, rotmat=out["rotmat"].float(),
            betas=out["betas"].float(), expression=out["expression"].float(), depth=None,
            head_position=out["head_position"].float(), box=out["box"].float() if "box" in out else None)

    def finish(self) -> None:
        """Wait for everything launched (a no-op after ``read_people``): the pinned input
        buffers are rewritten by the next ``upload``."""
        self.wait()

    # -- helpers ------------------------------------------------------------------------

    def _pinned(self, tensor: torch.Tensor) -> torch.Tensor:
        """Page-locked host memory (asynchronous copies) on CUDA; plain memory otherwise."""
        return tensor.pin_memory() if self.cuda else tensor

    def wait(self, main: bool = True) -> None:
        """Wait for the detector's read-back and, with ``main``, for everything launched."""
        if not self.cuda:
            return
        self._det_ready.synchronize()  # returns at once when no detector ran
        if main:
            torch.cuda.current_stream(self.device).synchronize()

    def _host_copy(self, key: tuple, packed: torch.Tensor) -> None:
        host = self._readback.get(key)
        if host is None:
            host = self._readback[key] = self._pinned(torch.empty(packed.shape, dtype=packed.dtype))
        host.copy_(packed, non_blocking=True)

    def close(self) -> None:
        self.graphs.clear()
        self._frames.clear()
        self._boxes.clear()
        self._readback.clear()
        self._pre = self._det = self._emb = self._params = None
