"""A fused checkpoint (one backbone under both heads): the backbone runs once per frame and the
decoder's result equals a separate, direct PromptHMR call on the same weights."""
import numpy as np
import pytest
import torch

from ros_phmr.assets import write_assets
from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.geometry.letterbox import letterbox_torch
from ros_phmr.model.checkpoint import load_checkpoint_file
from ros_phmr.model.compact import write_compact
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import PromptStore

W, H = 320, 240
DET_PREFIX, DEC_PREFIX = "backbone.encoder.", "image_encoder.backbone.encoder."


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    root = tmp_path_factory.mktemp("fused")
    write_assets(root, size="tiny", seed=5)
    det = load_checkpoint_file(root / "multihmr" / "multiHMR_tiny.pt", "multihmr")
    dec = load_checkpoint_file(root / "prompthmr" / "checkpoint.ckpt", "prompthmr")
    state = dict(dec["state_dict"])
    for key, value in det["state_dict"].items():
        if key.startswith(DET_PREFIX):
            state[DEC_PREFIX + key[len(DET_PREFIX):]] = value
    path = write_compact(root / "fused.safetensors", {
        "multihmr": {"state_dict": det["state_dict"], "args": det["args"]},
        "prompthmr": {"state_dict": state, "args": dec["args"]}})
    return root, path


def _pipeline(root, prompthmr, multihmr):
    return Pipeline(PipelineConfig(profile="prompthmr+multihmr", prompthmr_checkpoint=str(prompthmr),
                                   multihmr_checkpoint=str(multihmr), smplx_model=str(root),
                                   device="cpu", max_people=3, use_mean_hands=False))


def test_backbone_runs_once_and_matches_a_direct_decoder_call(fused):
    root, path = fused
    pipe = _pipeline(root, path, path)
    assert pipe.shared_backbone and pipe.decoder_size == 224
    backbone = pipe.detector.net.backbone.encoder
    assert pipe.decoder.net.image_encoder.backbone.encoder is backbone
    calls = []
    handle = backbone.register_forward_hook(lambda *a: calls.append(1))
    image = (np.random.default_rng(3).random((H, W, 3)) * 255).astype(np.uint8)
    K = default_intrinsics(W, H)
    store = PromptStore()
    store.set_box(4, 0, [30, 20, 150, 230])
    prompts, _ = store.for_frame(0, W, H)
    people = pipe.process(image, K, prompts).people
    handle.remove()
    assert len(calls) == 1
    person = next(p for p in people if p.track_id == 4)

    net_in, lb = letterbox_torch(torch.from_numpy(image), 224)
    with torch.no_grad():
        direct = pipe.decoder(net_in[None], lb.intrinsics_to_letterbox(K),
                              lb.boxes_to_letterbox(np.array([[30, 20, 150, 230]], np.float64)))
    np.testing.assert_allclose(person.transl, direct["transl"][0].numpy(), atol=1e-5)
    np.testing.assert_allclose(person.vertices, direct["vertices"][0].numpy(), atol=1e-5)


def test_different_backbones_are_not_shared(fused):
    root, _ = fused
    pipe = _pipeline(root, root / "prompthmr" / "checkpoint.ckpt",
                     root / "multihmr" / "multiHMR_tiny.pt")
    assert not pipe.shared_backbone
    assert pipe.decoder.net.image_encoder.backbone.encoder is not pipe.detector.net.backbone.encoder


def test_shared_backbone_refuses_another_resolution(fused):
    root, path = fused
    with pytest.raises(ValueError, match="share one backbone"):
        Pipeline(PipelineConfig(profile="prompthmr+multihmr", prompthmr_checkpoint=str(path),
                                multihmr_checkpoint=str(path), smplx_model=str(root),
                                device="cpu", resolution=448))
