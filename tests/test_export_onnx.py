"""ONNX export of the tiny models (fp32) against torch with onnxruntime: the final parameters of
the detector and the decoder agree to 1e-3, the position embedding is baked (no Resize), and
padded people rows are zeroed by the mask."""
import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from ros_phmr.assets import write_assets  # noqa: E402
from ros_phmr.model.prompthmr.attention import FOLD_MIN_PEOPLE  # noqa: E402
from ros_phmr.pipeline import Pipeline, PipelineConfig  # noqa: E402
from ros_phmr.runtime.export import (DecoderGraph, example_boxes, export_pipeline_graphs,  # noqa: E402
                                     onnxruntime_outputs)



# The decoder attends plainly below FOLD_MIN_PEOPLE people and in folded form from there on:
# both exported graphs are checked.
@pytest.fixture(scope="module", params=[3, FOLD_MIN_PEOPLE + 1], ids=["plain", "folded"])
def exported(tmp_path_factory, request):
    max_people = request.param
    out = tmp_path_factory.mktemp("export")
    write_assets(out / "assets", size="tiny", seed=5)
    pipe = Pipeline(PipelineConfig(
        profile="prompthmr+multihmr", smplx_model=str(out / "assets"), resolution=224, device="cpu",
        max_people=max_people, prompthmr_checkpoint=str(out / "assets" / "prompthmr" / "checkpoint.ckpt"),
        multihmr_checkpoint=str(out / "assets" / "multihmr" / "multiHMR_tiny.pt")))
    return pipe, export_pipeline_graphs(pipe, out / "onnx", image_size=(320, 240), people=2), max_people


def test_graphs_match_torch_within_1e3(exported):
    _, graphs, _ = exported
    assert set(graphs) == {"detector", "encoder", "decoder"}
    for name, entry in graphs.items():
        assert entry["max_abs_error"] <= 1e-3, name
        assert len(entry["sha256"]) == 64


def test_shapes_are_static_and_the_position_embedding_is_baked(exported):
    _, graphs, _ = exported
    for name, entry in graphs.items():
        model = onnx.load(entry["path"])
        ops = {node.op_type for node in model.graph.node}
        assert "Resize" not in ops, name
        for value in list(model.graph.input) + list(model.graph.output):
            dims = value.type.tensor_type.shape.dim
            assert all(d.HasField("dim_value") for d in dims), (name, value.name)


def test_decoder_graph_on_new_people_equals_torch_and_masks_padding(exported):
    pipe, graphs, max_people = exported
    size = pipe.decoder_size
    torch.manual_seed(3)
    embeddings = torch.randn(1, pipe.decoder.dims.dim, size // 14, size // 14)
    K = torch.tensor([[[300.0, 0, 112], [0, 300, 112], [0, 0, 1]]])
    boxes, valid = example_boxes(1, max_people, size)
    boxes[0, :4] = torch.tensor([30.0, 40, 120, 210])
    got = onnxruntime_outputs(graphs["decoder"]["path"], {
        "embeddings": embeddings.numpy(), "K": K.numpy(), "boxes": boxes.numpy(), "valid": valid.numpy()})
    with torch.no_grad():
        want = DecoderGraph(pipe.decoder, max_people)(embeddings, K, boxes, valid)
        direct = pipe.decoder.decode(embeddings, K, pipe.decoder.prepare_prompts(size, 1, boxes[:1, :4].numpy()))
    for name, value in zip(("pose_6d", "betas", "transl"), want):
        np.testing.assert_allclose(got[name], value.numpy(), atol=1e-3)
        np.testing.assert_allclose(got[name][0], direct[name][0].numpy(), atol=1e-3)
        assert not got[name][1:].any()  # padded rows are zeroed


def test_export_command_writes_checked_graphs(tmp_path, capsys):
    import importlib.util

    from ros_phmr.cli import main

    assets = tmp_path / "assets"
    write_assets(assets, size="tiny", seed=7)
    common = ["--profile", "multihmr", "--multihmr", str(assets / "multihmr" / "multiHMR_tiny.pt"),
              "--smplx", str(assets), "--max-people", "2", "--width", "320", "--height", "240"]
    assert main(["export", "--backend", "onnx", "-o", str(tmp_path / "onnx")] + common) == 0
    printed = capsys.readouterr().out
    assert "detector" in printed and "max abs error vs torch" in printed
    assert (tmp_path / "onnx" / "export.json").is_file()
    if importlib.util.find_spec("tensorrt") is None:
        assert main(["export", "--backend", "tensorrt", "-o", str(tmp_path / "trt")] + common) == 1
        assert "tensorrt" in capsys.readouterr().err
