"""The ROS-free per-frame pipeline: image + K + prompts in, SMPL-X people out.

Profiles:

- ``prompthmr+multihmr``: Multi-HMR finds everyone; its meshes (or its box head, in our
  compact models that have one) give each person a box; the boxes, together with the prompts
  other nodes published (boxes, masks, text, interaction), condition the PromptHMR decoder.
- ``prompthmr``: PromptHMR on the published prompts only (no prompt, no person).
- ``multihmr``: Multi-HMR alone (whole body: hands, jaw, expression).

When both checkpoints hold the same backbone (a fused model trained under both heads), the
backbone runs once per frame and both heads read its tokens.

Prompts name people by id. Until the tracker gives detections ids, a detection takes the id of
the prompted box it overlaps (IoU >= ``match_iou``); other detections are reported with id -1.
A prompt that cannot be placed (text or interaction for an id with neither a box nor a mask)
is dropped and reported, never silently ignored.

Speed (torch backend on CUDA): matmul weights are cast once to the precision's dtype and run
under autocast (the backbones' LayerNorms and residual streams stay float32; LayerScale is
folded into the projections and each MLP's GELU into its first matmul), PromptHMR's two-way decoder runs wholly in that dtype (float32
LayerNorm statistics, float32 outputs), SMPL-X skinning stays float32, and the GPU work
of a frame replays as CUDA graphs (``ros_phmr.runtime.torch_cuda``) with one host wait after
the detector and one read-back at the end. Frames with mask, text or interaction prompts take
the eager path. ``sync_stages`` synchronises after every stage so that ``timings`` holds each
stage's GPU time; without it only host stages and ``total`` are reported and nothing waits in
between (the prompt fusion then overlaps the PromptHMR backbone).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ros_phmr.drops import Drop
from ros_phmr.geometry.camera import validate_intrinsics
from ros_phmr.geometry.letterbox import Letterbox, letterbox_numpy, letterbox_torch
from ros_phmr.geometry.projection import box_iou
from ros_phmr.geometry.rotations import matrix_to_axis_angle
from ros_phmr.model.multihmr.model import person_image_boxes, place_bodies
from ros_phmr.people import PROMPT_BOX, PROMPT_INTERACTION, PROMPT_MASK, PROMPT_TEXT, PersonEstimate
from ros_phmr.prompts import FramePrompts, check_box
from ros_phmr.runtime import BACKENDS
from ros_phmr.runtime.device import resolve_device

PROFILES = ("prompthmr+multihmr", "prompthmr", "multihmr")
NUM_JOINTS_OUT = 127  # SMPL-X: 55 skeleton + 72 extra joints


@dataclass(frozen=True)
class PipelineConfig:
    profile: str = "prompthmr+multihmr"
    prompthmr_checkpoint: str = ""
    multihmr_checkpoint: str = ""
    smplx_model: str = ""  # "" = the generated synthetic body model
    resolution: int = 0  # PromptHMR input size; 0 = 896 (the released model's)
    device: str = "auto"
    precision: str = "fp32"
    detection_threshold: float = 0.3
    max_people: int = 10
    match_iou: float = 0.5
    use_mean_hands: bool = True
    compute_vertices: bool = True
    backend: str = "torch"  # torch | onnx | tensorrt (engines fall back to torch with a warning)
    cuda_graphs: bool = True  # torch backend on CUDA: replay captured graphs
    sync_stages: bool = True  # synchronise after each stage so timings hold per-stage GPU time
    engine_dir: str = ""  # where exported ONNX / TensorRT engines are cached ("" = ~/.cache)
    compile: bool = False  # torch backend: torch.compile the backbones and the stages around them

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        needs = {"prompthmr": self.profile != "multihmr", "multihmr": self.profile != "prompthmr"}
        for kind, needed in needs.items():
            path = getattr(self, f"{kind}_checkpoint")
            if needed and not path:
                raise ValueError(f"profile {self.profile!r} needs {kind}_checkpoint (official "
                                 "file, or `ros-phmr assets` for random weights)")
        if self.precision not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be fp32, fp16 or bf16, got {self.precision!r}")
        if self.resolution and self.resolution % 14:
            raise ValueError(f"resolution {self.resolution} must be a multiple of 14")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")

    @classmethod
    def from_parameters(cls, params: dict) -> "PipelineConfig":
        """From the node's parameter values (ros_phmr/ros/parameters.py names)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in params.items() if k in names})


@dataclass
class FrameResult:
    people: list[PersonEstimate]
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    drops: list[Drop] = field(default_factory=list)


@dataclass
class _Person:
    """One person to decode: where (box), what was prompted, and under which id."""

    person_id: int
    box: np.ndarray  # (4,) original pixels
    score: float
    mask: np.ndarray | None = None
    text: str | None = None
    kinds: int = 0


class Pipeline:
    """Loads the models of a profile once; ``process`` runs one frame."""

    def __init__(self, config: PipelineConfig) -> None:
        from ros_phmr.body import BodyModel, is_synthetic_model

        self.config = config
        self.device = resolve_device(config.device)
        self._amp = (self.device.type == "cuda" and config.precision != "fp32")
        self._amp_dtype = torch.bfloat16 if config.precision == "bf16" else torch.float16
        if config.smplx_model:
            smplx_path = config.smplx_model
        else:  # deferred: the demo module pulls in the MCAP/Foxglove writers
            from ros_phmr.demo import synthetic_model_path

            smplx_path = synthetic_model_path()
        self.body = BodyModel.from_file(smplx_path).to(self.device).eval()
        # (F, 3): constant, read once (live viewers and writers ask for it every frame).
        self._faces = self.body.faces.cpu().numpy().astype(np.uint32)
        self.model_name = ("synthetic SMPL-X-format mannequin" if is_synthetic_model(smplx_path)
                           else "SMPL-X")
        self.detector = self.decoder = None
        if config.profile != "prompthmr":
            from ros_phmr.model.multihmr.model import MultiHMR

            self.detector = MultiHMR.from_checkpoint(config.multihmr_checkpoint, self.body,
                                                     max_people=config.max_people)
            self.detector.to(self.device)
        if config.profile != "multihmr":
            from ros_phmr.model.prompthmr.model import PromptHMR

            self.decoder = PromptHMR.from_checkpoint(config.prompthmr_checkpoint, self.body)
            self.decoder.to(self.device)
        self.decoder_size = config.resolution or 896
        self.shared_backbone = self._tie_backbones()
        # Hand pose that PromptHMR people carry (it predicts none): constant, so converted once.
        hands = ((self.body.hands_mean_left, self.body.hands_mean_right) if config.use_mean_hands
                 else (torch.eye(3, device=self.device).expand(15, 3, 3),) * 2)
        self._decoder_hands_aa = tuple(matrix_to_axis_angle(h).cpu().numpy() for h in hands)
        self._engines = None
        self.backend = self._select_backend(config.backend)  # engines come from the fp32 models
        if self._amp:
            from ros_phmr.runtime.precision import cast_matmul_weights_, fold_layer_scale_

            for encoder in self._backbones():
                fold_layer_scale_(encoder)  # exact in fp32, before the cast below
                encoder.fuse_gelu_epilogue_()  # half-precision weights only, see Mlp
            for model in (self.detector, self.decoder):
                if model is not None:
                    cast_matmul_weights_(model.net, self._amp_dtype)
            if self.decoder is not None:
                from ros_phmr.runtime.precision import low_precision_decoder_

                low_precision_decoder_(self.decoder, self._amp_dtype)
        if config.compile and self.device.type == "cuda":
            for encoder in self._backbones():
                encoder.merge_class_key_()  # pays off compiled only (the merge is fused)
                encoder.compile()  # in place: state-dict keys unchanged; compiled on first call
            if self.decoder is not None:  # for the eager path (text prompts); the stages compile the whole decoder
                self.decoder.net.smpl_decoder.transformer.compile()
        self._stages = (self._make_stages()
                        if self.device.type == "cuda" or self._engines is not None else None)
        self._warm_sizes: set[tuple[int, int]] = set()  # frame sizes ``ensure_warm`` has done

    def _make_stages(self):
        """The staged GPU path (captured graphs on CUDA; eager stages on the CPU, for tests)."""
        from ros_phmr.runtime.torch_cuda import CudaStages

        config = self.config
        return CudaStages(
            device=self.device, detector=self.detector, decoder=self.decoder,
            shared_backbone=self.shared_backbone, decoder_size=self.decoder_size,
            autocast=self._autocast, detection_threshold=config.detection_threshold,
            max_people=config.max_people, use_mean_hands=config.use_mean_hands,
            compute_vertices=config.compute_vertices,
            graphs=config.cuda_graphs and self._engines is None, engines=self._engines,
            compile_stages=config.compile and self.device.type == "cuda")

    def _backbones(self) -> list:
        """The distinct DINOv2 modules of the loaded models (one when shared)."""
        found = []
        if self.detector is not None:
            found.append(self.detector.net.backbone.encoder)
        if self.decoder is not None:
            encoder = self.decoder.net.image_encoder.backbone.encoder
            if all(encoder is not f for f in found):
                found.append(encoder)
        return found

    def _select_backend(self, backend: str) -> str:
        """The backend that will run: engines need their runtime (TensorRT: CUDA too) and a
        successful export/build; otherwise a warning and torch."""
        if backend == "torch":
            return "torch"
        from ros_phmr.runtime.engines import engine_backend_available, prepare_engines

        problem = engine_backend_available(backend, self.device)
        if not problem:
            try:
                self._engines = prepare_engines(self, backend, self.config.engine_dir)
            except Exception as err:  # noqa: BLE001 - any build failure means: run on torch
                problem = f"{type(err).__name__}: {err}"
        if problem:
            warnings.warn(f"backend {backend!r} unavailable ({problem}); using the torch backend",
                          RuntimeWarning, stacklevel=3)
            return "torch"
        return backend

    def _tie_backbones(self) -> bool:
        """One backbone for detector and decoder when both checkpoints hold the same one.

        A fused checkpoint (one backbone trained under both heads) stores the backbone in both
        layouts; it then runs once per frame, at the detector's resolution.
        """
        if self.detector is None or self.decoder is None:
            return False
        det = self.detector.net.backbone.encoder
        dec = self.decoder.net.image_encoder.backbone.encoder
        a, b = det.state_dict(), dec.state_dict()
        if a.keys() != b.keys() or any(a[k].shape != b[k].shape or not torch.equal(a[k], b[k])
                                       for k in a):
            return False
        size = self.detector.config.image_size
        if self.config.resolution and self.config.resolution != size:
            raise ValueError(f"detector and decoder share one backbone, which runs at {size} px; "
                             f"resolution {self.config.resolution} cannot differ")
        self.decoder.net.image_encoder.backbone.encoder = det  # one module, one copy in memory
        self.decoder_size = size
        return True

    # -- what the node publishes about the model ----------------------------------------

    @property
    def faces(self) -> np.ndarray:
        return self._faces

    @property
    def vertex_count(self) -> int:
        return int(self.body.v_template.shape[0])

    @property
    def joint_names(self) -> list[str]:
        from smplx.joint_names import JOINT_NAMES

        return list(JOINT_NAMES[:NUM_JOINTS_OUT])

    @property
    def num_betas(self) -> int:
        return 10

    @property
    def num_expression(self) -> int:
        return 10

    @property
    def region_names(self) -> list[str]:
        return list(self.body.regions.names)

    def describe(self) -> str:
        parts = [f"profile {self.config.profile}", f"device {self.device}",
                 f"body {self.model_name}"]
        if self.detector is not None:
            parts.append(f"Multi-HMR {self.config.multihmr_checkpoint} "
                         f"({self.detector.config.image_size} px)")
        if self.decoder is not None:
            parts.append(f"PromptHMR {self.config.prompthmr_checkpoint} ({self.decoder_size} px)")
        return ", ".join(parts)

    def ensure_warm(self, width: int, height: int, log=None) -> float | None:
        """On CUDA, ``warmup`` once per frame size, so that no real frame pays for capturing
        graphs or compiling (with ``compile``: about a minute). ``log(text)`` hears about it
        first. Returns the seconds it took, None when there was nothing to do."""
        size = (int(width), int(height))
        if self._stages is None or self.device.type != "cuda" or size in self._warm_sizes:
            return None
        if log is not None:
            log(f"warming up for {size[0]}x{size[1]} frames: CUDA graphs for every people count"
                + (", compiling (minutes on the first run)" if self.config.compile else ""))
        seconds = self.warmup(*size)
        self._warm_sizes.add(size)
        return seconds

    def warmup(self, width: int, height: int, people=None) -> float:
        """Process black frames so that CUDA graphs are captured (and compiled modules
        compiled) before the first real frame: one frame per people bucket (default: every
        bucket up to ``max_people``). Returns the seconds it took."""
        from ros_phmr.geometry.camera import default_intrinsics
        from ros_phmr.prompts import PersonPrompt

        start = time.perf_counter()
        frame = np.zeros((int(height), int(width), 3), np.uint8)
        K = default_intrinsics(int(width), int(height))
        counts = people or (self._stages.buckets if self._stages is not None else [1])
        for count in ([None] if self.decoder is None else counts):
            prompts = None
            if count:
                xs = np.linspace(0, width, count + 1)
                prompts = FramePrompts(people=tuple(
                    PersonPrompt(person_id=i, box=np.array([xs[i], 0, xs[i + 1], height], np.float32))
                    for i in range(count)))
            self.process(frame, K, prompts)
        return time.perf_counter() - start

    def close(self) -> None:
        """Release the models (and GPU memory)."""
        if self._stages is not None:
            self._stages.close()
        self._stages = None
        self.detector = self.decoder = self.body = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- one frame ----------------------------------------------------------------------

    @torch.inference_mode()
    def process(self, image: np.ndarray, K: np.ndarray,
                prompts: FramePrompts | None = None) -> FrameResult:
        """Estimate everyone in ``image`` (H, W, 3) uint8 RGB with intrinsics K (3, 3)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or not image.size:
            raise ValueError(f"image must be a non-empty (H, W, 3) uint8 RGB array, got "
                             f"{image.shape} {image.dtype}")
        K = validate_intrinsics(K, image.shape[1], image.shape[0])  # NaN, f <= 0: ValueError
        prompts = prompts or FramePrompts()
        if self._stages is not None and self._replayable(prompts):
            return self._process_cuda(image, K, prompts)
        timings: dict[str, float] = {}
        drops: list[Drop] = []
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            now = time.perf_counter()
            timings[stage] = timings.get(stage, 0.0) + now - clock
            clock = now

        frame = torch.from_numpy(np.ascontiguousarray(image)).to(self.device, non_blocking=True)
        lap("upload")
        detections = shared = K_det = None
        if self.detector is not None:
            detections, K_det, shared = self._detect(frame, K, lap)
        if self.decoder is None:
            people = self._people_from_detector(detections, K, K_det)
            lap("body_model")
        else:
            found = (self._detection_boxes(detections, K, K_det)
                     if detections is not None and bool(detections.valid.any()) else None)
            persons = self._fuse(found, prompts, image.shape[1], image.shape[0], drops)
            lap("prompt_fusion")
            people = self._decode(frame, K, persons, prompts, lap, shared) if persons else []
        timings["total"] = sum(timings.values())
        return FrameResult(people, timings, drops)

    @staticmethod
    def _replayable(prompts: FramePrompts) -> bool:
        """Box-only prompts run as captured graphs; masks, text and interactions run eagerly."""
        return not prompts.interaction_pairs and all(p.mask is None and p.text is None
                                                     for p in prompts.people)

    def _process_cuda(self, image: np.ndarray, K: np.ndarray, prompts: FramePrompts) -> FrameResult:
        """One frame through the captured stages (see ros_phmr.runtime.torch_cuda)."""
        stages, sync = self._stages, self.config.sync_stages
        height, width = image.shape[:2]
        timings: dict[str, float] = {}
        drops: list[Drop] = []
        start = clock = time.perf_counter()

        def lap(stage: str, wait: bool = True) -> None:
            nonlocal clock
            if not sync:  # end-to-end timing only: nothing may wait between stages
                return
            if wait:
                stages.wait()
            now = time.perf_counter()
            timings[stage] = timings.get(stage, 0.0) + now - clock
            clock = now

        lb_det = (Letterbox.fit(width, height, self.detector.config.image_size)
                  if self.detector is not None else None)
        lb_dec = Letterbox.fit(width, height, self.decoder_size) if self.decoder is not None else None
        stages.upload(image, K, None if lb_det is None else lb_det.intrinsics_to_letterbox(K),
                      None if lb_dec is None else lb_dec.intrinsics_to_letterbox(K))
        lap("upload")
        stages.preprocess()
        lap("preprocess")
        people: list[PersonEstimate] = []
        encoded = False
        if self.detector is not None:
            if stages.detector_beside:  # the long backbone first, see CudaStages
                stages.encode()
                lap("backbone")
                encoded = True
            stages.detect()
            lap("detector")
        if self.decoder is None:
            host = stages.detections()
            found = len(host["score"])
            lap("outputs", wait=False)
            people = self._build_estimates(
                ids=[-1] * found, scores=host["score"].tolist(),
                boxes=list(host["box"]), kinds=[0] * found, host=host)
        else:
            persons = None
            if self.detector is None:  # prompts only: nothing to encode when nobody is prompted
                persons = self._fuse(None, prompts, width, height, drops)
                lap("prompt_fusion", wait=False)
            if not encoded and (persons is None or persons):
                stages.encode()
                lap("backbone")
            if persons is None:
                slots = stages.detections()
                found = (slots["box"], slots["score"]) if len(slots["score"]) else None
                persons = self._fuse(found, prompts, width, height, drops)
                lap("prompt_fusion", wait=False)
            if persons:
                boxes = lb_dec.boxes_to_letterbox(np.stack([p.box for p in persons]).astype(np.float64))
                checked = self.decoder.prepare_prompts(self.decoder_size, 1, boxes)
                stages.decode(checked.boxes.numpy())
                lap("decoder")
                stages.body()
                lap("body_model")
                host = stages.read_people()
                lap("outputs", wait=False)
                people = self._build_estimates(
                    ids=[p.person_id for p in persons], scores=[p.score for p in persons],
                    boxes=[p.box for p in persons], kinds=[p.kinds for p in persons], host=host)
        stages.finish()
        lap("outputs", wait=False)
        timings["total"] = time.perf_counter() - start
        return FrameResult(people, timings, drops)

    def _autocast(self):
        # No weight-cast cache: weights are already cast, and graph capture forbids the cache.
        return torch.autocast(self.device.type, dtype=self._amp_dtype, enabled=self._amp,
                              cache_enabled=False)

    def _detect(self, frame: torch.Tensor, K: np.ndarray, lap):
        """Multi-HMR on the frame -> (its output, K of its input, and with a shared backbone
        (tokens, letterbox) for the decoder)."""
        size = self.detector.config.image_size
        net_in, lb = letterbox_torch(frame, size)
        K_in = torch.as_tensor(lb.intrinsics_to_letterbox(K), dtype=torch.float32,
                               device=self.device)
        lap("preprocess")
        net = self.detector.net
        with self._autocast():
            tokens = net.tokens(net_in[None])  # (1, N, D): the frame's only backbone pass
            found, score_map = net.detect(tokens, self.config.detection_threshold,
                                          max_people=self.config.max_people)
            out = net.regress(tokens, K_in[None], found, score_map)
        out = place_bodies(self.detector.body, out, self.detector.config.person_center_joint)
        lap("detector")
        return out, K_in, ((tokens, lb) if self.shared_backbone else None)

    def _detection_boxes(self, out, K: np.ndarray, K_det: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (D, 4) in original pixels, and scores (D,): the box head's where the detector
        has one, else around each detected mesh. K_det: intrinsics of the detector's input."""
        valid = out.valid[0]
        K_frame = torch.as_tensor(K, dtype=torch.float32, device=out.scores.device)
        boxes = person_image_boxes(out, K_frame, K_det, (0, valid))  # (D, 4)
        return boxes.cpu().numpy().astype(np.float32), out.scores[0][valid].float().cpu().numpy()

    def _fuse(self, found: tuple[np.ndarray, np.ndarray] | None, prompts: FramePrompts,
              width: int, height: int, drops: list[Drop]) -> list[_Person]:
        """People to decode: every prompted person plus every unmatched detection.

        ``found``: detection boxes (D, 4) in original pixels and scores (D,), or None."""
        persons: list[_Person] = []
        for p in prompts.people:
            box, kinds = p.box, 0
            if box is not None:
                kinds |= PROMPT_BOX
            if p.mask is not None:
                kinds |= PROMPT_MASK
                if box is None:
                    ys, xs = np.nonzero(p.mask)
                    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
            if p.text is not None:
                kinds |= PROMPT_TEXT
            if box is None:
                drops.append(Drop("prompt_unplaced", f"id {p.person_id}: a text prompt needs a "
                                  "box or mask for that id (no tracker ids yet)"))
                continue
            persons.append(_Person(p.person_id, box, p.box_score, p.mask, p.text, kinds))
        if found is not None:
            det_boxes, det_scores = found
            prompted = np.stack([p.box for p in persons]) if persons else np.zeros((0, 4))
            iou = box_iou(det_boxes, prompted) if len(prompted) else np.zeros((len(det_boxes), 0))
            for i, (box, score) in enumerate(zip(det_boxes, det_scores)):
                if iou.shape[1] and iou[i].max() >= self.config.match_iou:
                    continue  # a prompted person: decoded with the prompt's box
                clipped, _ = check_box(box, width, height)  # None: degenerate or off-image
                if clipped is not None:
                    persons.append(_Person(-1, clipped, float(score)))
        known = {p.person_id for p in persons}
        for a, b in prompts.interaction_pairs:
            if a not in known or b not in known:
                drops.append(Drop("interaction_id_unknown", f"pair ({a}, {b}): no person with "
                                  "that id in this frame"))
        return persons[: self.config.max_people]

    def _decode(self, frame: torch.Tensor, K: np.ndarray, persons: list[_Person],
                prompts: FramePrompts, lap, shared=None) -> list[PersonEstimate]:
        size = self.decoder_size
        tokens, lb = shared if shared is not None else (None, None)
        if tokens is None:
            net_in, lb = letterbox_torch(frame, size)
        K_in = lb.intrinsics_to_letterbox(K)
        boxes = lb.boxes_to_letterbox(np.stack([p.box for p in persons]).astype(np.float64))
        masks = None
        if any(p.mask is not None for p in persons):
            masks = np.stack([self._letterbox_mask(p.mask, lb, size) for p in persons])
        texts = [p.text for p in persons] if any(p.text for p in persons) else None
        ids = [p.person_id for p in persons]
        pairs = np.zeros((len(persons), len(persons)), bool)
        for a, b in prompts.interaction_pairs:
            if a in ids and b in ids:
                i, j = ids.index(a), ids.index(b)
                pairs[i, j] = pairs[j, i] = True
        decoder_prompts = self.decoder.prepare_prompts(size, 1, boxes, masks, texts,
                                                       pairs if pairs.any() else False)
        lap("preprocess")
        with self._autocast():
            if tokens is None:
                emb = self.decoder.encode_images(net_in[None], K_in)
            else:
                grid = size // 14
                emb = self.decoder.encode_tokens(tokens, grid, grid, K_in)
            params = self.decoder.decode(emb, K_in, decoder_prompts.to(self.device))
        lap("decoder")
        out = self.decoder.bodies(params, use_mean_hands=self.config.use_mean_hands)
        lap("body_model")
        interacting = pairs.any(axis=1)
        host = self._to_host(out["rotmats"], out["joints"], out["vertices"], K,
                             betas=out["betas"], transl=out["transl"])
        return self._build_estimates(
            ids=ids, scores=[p.score for p in persons], boxes=[p.box for p in persons],
            kinds=[p.kinds | (PROMPT_INTERACTION if interacting[i] else 0)
                   for i, p in enumerate(persons)], host=host)

    def _people_from_detector(self, out, K: np.ndarray, K_det: torch.Tensor) -> list[PersonEstimate]:
        valid = out.valid[0]
        if not bool(valid.any()):
            return []
        boxes, scores = self._detection_boxes(out, K, K_det)
        host = self._to_host(out.rotmat[0][valid], out.joints[0][valid], out.vertices[0][valid], K,
                             betas=out.betas[0][valid], expression=out.expression[0][valid],
                             transl=out.transl[0][valid])
        return self._build_estimates(ids=[-1] * len(boxes), scores=scores.tolist(),
                                     boxes=list(boxes), kinds=[0] * len(boxes), host=host)

    def _to_host(self, rotmats, joints, vertices, K: np.ndarray, **extra) -> dict[str, np.ndarray]:
        """Batched device tensors -> host arrays with one read-back (see runtime.people_pack)."""
        from ros_phmr.runtime.people_pack import pack_people, person_tensors

        K_t = torch.as_tensor(K, dtype=torch.float32, device=joints.device)
        packed, layout = pack_people(person_tensors(
            rotmats, joints, K_t, vertices if self.config.compute_vertices else None, **extra))
        return layout.unpack(packed.cpu().numpy())

    def _build_estimates(self, *, ids, scores, boxes, kinds, host: dict) -> list[PersonEstimate]:
        """PersonEstimates from host arrays: aa (N, 22 or 53, 3), joints, uv, betas, transl,
        optional expression and vertices. With 22 rotations (PromptHMR) the hands are the
        decoder's constant hand pose and jaw and expression are neutral."""
        n = len(ids)
        aa = host["aa"]
        if aa.shape[1] > 22:  # Multi-HMR: [global, 21 body, 15 left, 15 right, jaw]
            left, right, jaw = aa[:, 22:37], aa[:, 37:52], aa[:, 52]
        else:
            left, right = (np.broadcast_to(h, (n, 15, 3)) for h in self._decoder_hands_aa)
            jaw = np.zeros((n, 3), np.float32)
        expr = host.get("expression")
        expr = np.zeros((n, 10), np.float32) if expr is None else expr
        verts = host.get("vertices")
        return [PersonEstimate(
            track_id=int(ids[i]), score=float(scores[i]), box_xyxy=boxes[i],
            global_orient=aa[i, 0], body_pose=aa[i, 1:22], left_hand_pose=left[i],
            right_hand_pose=right[i], jaw_pose=jaw[i], betas=host["betas"][i], expression=expr[i],
            transl=host["transl"][i], joints_3d=host["joints"][i], joints_2d=host["uv"][i],
            vertices=None if verts is None else verts[i],
            prompt_id=int(ids[i]) if kinds[i] else -1, prompt_kinds=int(kinds[i]))
            for i in range(n)]

    @staticmethod
    def _letterbox_mask(mask: np.ndarray | None, lb: Letterbox, size: int) -> np.ndarray:
        """A person's binary mask letterboxed like the image, at the decoder's mask size."""
        mask_size = 4 * size // 14
        if mask is None:
            return np.zeros((1, mask_size, mask_size), np.float32)  # all-zero = no mask
        boxed, _ = letterbox_numpy(np.repeat(mask.astype(np.uint8)[..., None] * 255, 3, -1),
                                   size)
        import cv2

        small = cv2.resize(boxed[..., 0], (mask_size, mask_size), interpolation=cv2.INTER_NEAREST)
        return (small > 127).astype(np.float32)[None]
