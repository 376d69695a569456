"""The detector's box head (our compact models): decoding, checkpoints with and without it, the
pipeline reporting its boxes (eager and staged), training it, and the ONNX export."""
import numpy as np
import pytest
import torch

from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.geometry.letterbox import letterbox_torch
from ros_phmr.geometry.projection import boxes_from_points, project_points
from ros_phmr.model.fused import FusedConfig, FusedModel
from ros_phmr.model.multihmr.detection import decode_person_boxes
from ros_phmr.model.multihmr.model import INITIAL_BOX
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.train.losses import box_error
from fit_loss_term import fit_loss_term

W, H = 200, 150


@pytest.fixture(scope="module")
def with_box(tmp_path_factory):
    path = tmp_path_factory.mktemp("box") / "fused.safetensors"
    return FusedModel.build(FusedConfig.tiny(), seed=3).save_compact(path, half=False)


@pytest.fixture(scope="module")
def without_box(tmp_path_factory):
    path = tmp_path_factory.mktemp("nobox") / "fused.safetensors"
    config = FusedConfig(**{**FusedConfig.tiny().__dict__, "box_head": False})
    return FusedModel.build(config, seed=3).save_compact(path, half=False)


def test_decode_person_boxes_against_the_definition():
    grid = 8
    raw = torch.randn(1, 3, 4, generator=torch.Generator().manual_seed(0))
    index = torch.tensor([[0, 13, 63]])
    got = decode_person_boxes(raw, index, grid).numpy()[0]
    for p, token in enumerate([0, 13, 63]):
        cx, cy = (token % grid + 0.5) * 14, (token // grid + 0.5) * 14
        left, top, right, bottom = np.exp(raw[0, p].numpy()) * grid * 14
        np.testing.assert_allclose(got[p], [cx - left, cy - top, cx + right, cy + bottom], rtol=1e-5)


def test_box_error_is_relative_to_the_target_size():
    small = torch.tensor([[10.0, 10.0, 30.0, 50.0]])
    large = small * 4
    miss = torch.tensor([[2.0, -4.0, 2.0, 4.0]])
    torch.testing.assert_close(box_error(small + miss, small), box_error(large + 4 * miss, large))
    torch.testing.assert_close(box_error(small + miss, small), torch.tensor([[0.1, 0.1, 0.1, 0.1]]))


def test_compact_files_with_and_without_the_head(with_box, without_box):
    boxed = FusedModel.from_compact(with_box)
    assert boxed.detector.config.box_head and boxed.config.box_head
    plain = FusedModel.from_compact(without_box)
    assert not plain.detector.config.box_head and not plain.config.box_head
    assert plain.detector.x_attention_head.decbox is None


def _detector_pipeline(path, **kw):
    return Pipeline(PipelineConfig(profile="multihmr", multihmr_checkpoint=str(path), device="cpu",
                                   detection_threshold=0.0, max_people=3, **kw))


def test_pipeline_reports_the_head_boxes_eager_and_staged(with_box):
    """Boxes: the head's output mapped back through the letterbox (computed here with the
    Letterbox, not the pipeline's intrinsics mapping), not the boxes around the meshes."""
    pipe = _detector_pipeline(with_box)
    frame = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
    K = default_intrinsics(W, H)
    people = pipe.process(frame, K).people
    assert len(people) == 3
    net = pipe.detector.net
    net_in, lb = letterbox_torch(torch.from_numpy(frame), net.config.image_size)
    K_in = torch.as_tensor(lb.intrinsics_to_letterbox(K), dtype=torch.float32)[None]
    with torch.no_grad():
        tokens = net.tokens(net_in[None])
        found, score_map = net.detect(tokens, 0.0, max_people=3)
        want = lb.boxes_to_original(net.regress(tokens, K_in, found, score_map).box[0].numpy().astype(np.float64))
    got = np.stack([p.box_xyxy for p in people])
    np.testing.assert_allclose(got, want, atol=1e-3)
    around_mesh = np.stack([boxes_from_points(project_points(p.vertices.astype(np.float64), K)) for p in people])
    assert np.abs(got - around_mesh).max() > 5.0

    pipe._stages = pipe._make_stages()
    staged = np.stack([p.box_xyxy for p in pipe.process(frame, K).people])
    np.testing.assert_allclose(staged, got, atol=1e-3)


def test_a_head_added_to_an_older_file_trains_and_exports(without_box, tmp_path):
    from ros_phmr.train.model import TrainModel

    model = TrainModel.from_fused(FusedModel.from_compact(without_box))
    model.add_box_head_()
    torch.testing.assert_close(model.detector.x_attention_head.decbox.bias.exp(), torch.tensor(INITIAL_BOX))
    first, last = fit_loss_term(model, "det_box", tmp_path, steps=8, lr=2e-3)
    assert last < 0.8 * first
    exported = FusedModel.from_compact(model.export(tmp_path / "boxed.safetensors"))
    assert exported.config.box_head and exported.detector.x_attention_head.decbox is not None


def test_onnx_backend_reports_the_same_head_boxes(with_box, tmp_path):
    """The exported detector graph carries the box output, and the ONNX Runtime backend's
    detections come back with the boxes the torch backend reports."""
    pytest.importorskip("onnxruntime")

    def config(**kw):
        return PipelineConfig(prompthmr_checkpoint=str(with_box), multihmr_checkpoint=str(with_box), device="cpu",
                              max_people=3, detection_threshold=0.0, **kw)

    frame = np.random.default_rng(4).integers(0, 256, (H, W, 3), dtype=np.uint8)
    K = default_intrinsics(W, H)
    want = np.stack([p.box_xyxy for p in Pipeline(config()).process(frame, K).people])
    pipe = Pipeline(config(backend="onnx", engine_dir=str(tmp_path)))
    assert pipe.backend == "onnx"
    got = np.stack([p.box_xyxy for p in pipe.process(frame, K).people])
    np.testing.assert_allclose(got, want, atol=1e-2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("compile", [False, True])
def test_cuda_stage_graphs_report_the_head_boxes(with_box, compile):
    """The captured (and compiled) detector stage maps the head's boxes on the GPU, as the eager
    CPU pipeline does."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False

    def pipe(device, **kw):
        return Pipeline(PipelineConfig(prompthmr_checkpoint=str(with_box), multihmr_checkpoint=str(with_box),
                                       device=device, max_people=3, detection_threshold=0.0, **kw))

    frame = np.random.default_rng(6).integers(0, 256, (H, W, 3), dtype=np.uint8)
    K = default_intrinsics(W, H)
    want = np.stack([p.box_xyxy for p in pipe("cpu").process(frame, K).people])
    gpu = pipe("cuda", precision="fp32", compile=compile)
    got = np.stack([p.box_xyxy for p in gpu.process(frame, K).people])
    assert gpu._stages is not None and gpu._stages.graphs
    np.testing.assert_allclose(got, want, atol=0.05)
