"""The per-frame pipeline on tiny random-weight assets: profiles, prompt fusion, bad input.

Expected values come from calling the models directly (the pipeline's letterbox, K and box
handling must agree with an independent call) and from projecting joints with numpy.
"""
import numpy as np
import pytest
import torch

from ros_phmr.assets import write_assets
from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.geometry.letterbox import letterbox_torch
from ros_phmr.people import PROMPT_BOX, PROMPT_MASK, PROMPT_TEXT
from ros_phmr.geometry.projection import box_iou
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import PromptStore

W, H = 320, 240


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline_assets")
    write_assets(out, size="tiny", seed=1)
    return out


def _config(assets, profile, **kw):
    return PipelineConfig(profile=profile, smplx_model=str(assets),
                          prompthmr_checkpoint=str(assets / "prompthmr" / "checkpoint.ckpt"),
                          multihmr_checkpoint=str(assets / "multihmr" / "multiHMR_tiny.pt"),
                          resolution=224, max_people=4, device="cpu", **kw)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return (rng.random((H, W, 3)) * 255).astype(np.uint8), default_intrinsics(W, H)


def _project(points, K):
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:]


def test_multihmr_profile_gives_whole_bodies_with_consistent_2d(assets, frame):
    image, K = frame
    result = Pipeline(_config(assets, "multihmr")).process(image, K)
    assert 1 <= len(result.people) <= 4
    for p in result.people:
        assert p.track_id == -1 and p.prompt_kinds == 0
        np.testing.assert_allclose(p.joints_2d, _project(p.joints_3d.astype(np.float64), K),
                                   atol=1e-2)
        assert p.vertices.shape == (10475, 3) and p.joints_3d.shape == (127, 3)
    assert {"detector", "body_model"} <= set(result.timings)


def test_prompthmr_profile_matches_a_direct_model_call(assets, frame):
    image, K = frame
    pipe = Pipeline(_config(assets, "prompthmr", use_mean_hands=False))
    store = PromptStore()
    store.set_box(7, 0, [20, 30, 140, 230])
    store.set_text(7, 0, "tall muscular man")
    prompts, drops = store.for_frame(0, W, H)
    (person,) = pipe.process(image, K, prompts).people
    assert drops == [] and person.track_id == 7 and person.prompt_id == 7
    assert person.prompt_kinds == PROMPT_BOX | PROMPT_TEXT

    net_in, lb = letterbox_torch(torch.from_numpy(image), 224)
    direct = pipe.decoder(net_in[None], lb.intrinsics_to_letterbox(K),
                          lb.boxes_to_letterbox(np.array([[20, 30, 140, 230]], np.float64)),
                          texts=["tall muscular man"])
    np.testing.assert_allclose(person.transl, direct["transl"][0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(person.vertices, direct["vertices"][0].detach().numpy(), atol=1e-5)


def test_prompted_box_claims_the_overlapping_detection(assets, frame):
    image, K = frame
    pipe = Pipeline(_config(assets, "prompthmr+multihmr"))
    alone = pipe.process(image, K)
    assert alone.people and all(p.track_id == -1 for p in alone.people)
    target = alone.people[0].box_xyxy
    store = PromptStore()
    store.set_box(3, 0, target)
    prompts, _ = store.for_frame(0, W, H)
    prompted = pipe.process(image, K, prompts).people
    assert len(prompted) == len(alone.people)  # claimed, not duplicated
    assert [p.track_id for p in prompted].count(3) == 1
    others = np.stack([p.box_xyxy for p in prompted if p.track_id == -1] or [np.zeros(4)])
    assert box_iou(target[None], others).max() < 0.5 or len(prompted) == 1


def test_mask_prompt_places_a_person_and_text_alone_is_reported(assets, frame):
    image, K = frame
    pipe = Pipeline(_config(assets, "prompthmr"))
    mask = np.zeros((H, W), bool)
    mask[40:200, 60:150] = True
    store = PromptStore()
    store.set_mask(1, 0, mask)
    store.set_text(2, 0, "child")
    prompts, _ = store.for_frame(0, W, H)
    result = pipe.process(image, K, prompts)
    (person,) = result.people
    assert person.track_id == 1 and person.prompt_kinds == PROMPT_MASK
    np.testing.assert_array_equal(person.box_xyxy, [60, 40, 150, 200])
    assert [d.kind for d in result.drops] == ["prompt_unplaced"]


def test_prompthmr_without_prompts_returns_nobody(assets, frame):
    image, K = frame
    assert Pipeline(_config(assets, "prompthmr")).process(image, K).people == []


@pytest.mark.parametrize("bad", [np.zeros((H, W, 3), np.float32), np.zeros((H, W), np.uint8),
                                 np.zeros((0, W, 3), np.uint8)])
def test_bad_images_raise_clear_errors(assets, bad):
    pipe = Pipeline(_config(assets, "multihmr"))
    with pytest.raises(ValueError, match="uint8 RGB"):
        pipe.process(bad, default_intrinsics(W, H))


def test_nan_intrinsics_raise_a_clear_error(assets, frame):
    image, K = frame
    bad = K.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        Pipeline(_config(assets, "multihmr")).process(image, bad)


def test_profile_without_its_checkpoint_is_refused():
    with pytest.raises(ValueError, match="multihmr_checkpoint"):
        PipelineConfig(profile="multihmr")
    with pytest.raises(ValueError, match="profile"):
        PipelineConfig(profile="yolo")


def test_describe_names_the_synthetic_body_model_for_what_it_is(assets):
    pipe = Pipeline(_config(assets, "multihmr"))
    assert "synthetic" in pipe.describe() and pipe.model_name != "SMPL-X"
