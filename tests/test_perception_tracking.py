"""Perception on tiny random-weight assets: prompts for a track id follow that track's box,
ids stay, interactions are reported for tracked pairs, bad stamps are refused."""
import numpy as np
import pytest

from ros_phmr.assets import write_assets
from ros_phmr.people import PROMPT_BOX, PROMPT_INTERACTION, PROMPT_TEXT
from ros_phmr.perception import Perception, PerceptionConfig
from ros_phmr.pipeline import Pipeline, PipelineConfig
from ros_phmr.prompts import FramePrompts, PersonPrompt
from ros_phmr.tracking import OneEuroConfig

K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
BOX_3 = np.array([10, 20, 120, 230], np.float32)
BOX_5 = np.array([170, 15, 300, 235], np.float32)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("perception")
    write_assets(root, size="tiny", seed=2)
    pipe = Pipeline(PipelineConfig(profile="prompthmr", prompthmr_checkpoint=str(root / "prompthmr" / "checkpoint.ckpt"),
                                   smplx_model=str(root), resolution=224, device="cpu"))
    yield pipe
    pipe.close()


@pytest.fixture(scope="module")
def shared(pipeline):
    return Perception(pipeline)


@pytest.fixture
def perc(shared):
    shared.reset()
    return shared


@pytest.fixture(scope="module")
def image():
    return (np.random.default_rng(1).random((240, 320, 3)) * 255).astype(np.uint8)


def _boxes(*pairs):
    return FramePrompts(tuple(PersonPrompt(pid, box) for pid, box in pairs))


def test_text_prompt_for_a_track_id_follows_that_track(perc, image):
    first = perc.process(image, K, _boxes((3, BOX_3), (5, BOX_5)), stamp_s=0.0)
    assert sorted(p.track_id for p in first.people) == [3, 5]
    assert {"tracking", "interaction", "decoder"} <= set(first.timings)
    (inter,) = first.interactions
    assert (inter.id_a, inter.id_b, inter.prompted) == (3, 5, False)
    assert inter.min_distance >= 0.0 and len(first.self_contacts) == 2

    # Next frame: only a text prompt for id 3, no box: the pipeline gets track 3's box.
    text_only = FramePrompts((PersonPrompt(3, text="a person"), PersonPrompt(9, text="nobody")))
    second = perc.process(image, K, text_only, stamp_s=1 / 30)
    (person,) = second.people
    assert person.track_id == 3 and person.prompt_id == 3
    assert person.prompt_kinds & PROMPT_TEXT and not person.prompt_kinds & PROMPT_BOX
    assert np.allclose(person.box_xyxy, first.people[[p.track_id for p in first.people].index(3)].box_xyxy, atol=1.0)
    assert [d.kind for d in second.drops] == ["prompt_track_unknown"] and "id 9" in second.drops[0].detail


def test_interaction_prompt_on_track_ids(perc, image):
    perc.process(image, K, _boxes((3, BOX_3), (5, BOX_5)), stamp_s=0.0)
    out = perc.process(image, K, FramePrompts((), frozenset({(3, 5)})), stamp_s=0.05)
    assert sorted(p.track_id for p in out.people) == [3, 5]
    assert all(p.prompt_kinds == PROMPT_INTERACTION for p in out.people)
    (inter,) = out.interactions
    assert inter.prompted and (inter.id_a, inter.id_b) == (3, 5)


def test_smoothing_reposes_people_and_reset_forgets_tracks(pipeline, image):
    perc = Perception(pipeline, PerceptionConfig(smoothing=OneEuroConfig(min_cutoff=0.5), interactions=False))
    a = perc.process(image, K, _boxes((3, BOX_3)), stamp_s=0.0).people[0]
    b = perc.process(image, K, _boxes((3, BOX_3 + 6)), stamp_s=0.1).people[0]
    assert b.track_id == 3 and a.vertices is not None
    # Re-posed from the smoothed parameters: joints agree with the translation they carry.
    assert np.allclose(b.joints_3d[0] - a.joints_3d[0], b.transl - a.transl, atol=0.05)
    perc.reset()
    assert perc.tracker.active_ids == []
    assert perc.process(image, K, None, stamp_s=0.2).people == []  # no prompt, no detector
    with pytest.raises(ValueError, match="not after"):
        perc.process(image, K, None, stamp_s=0.1)
