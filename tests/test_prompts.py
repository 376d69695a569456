"""Prompt store: stamping, expiry, per-id replacement, and bad prompts dropped with a reason."""
import threading

import numpy as np
import pytest

from ros_phmr.drops import Drop, DropCounter
from ros_phmr.prompts import PromptStore, check_box

S = 1_000_000_000  # ns per second
W, H = 640, 480


def test_box_applies_from_its_stamp_until_expiry():
    store = PromptStore(expire_after_s=1.0, match_tolerance_s=0.05)
    store.set_box(3, 10 * S, [10, 20, 110, 220])
    for frame_stamp, expected in [(10 * S - S // 10, False), (10 * S - S // 50, True),
                                  (10 * S, True), (11 * S, True), (11 * S + 1, False)]:
        prompts, drops = store.for_frame(frame_stamp, W, H)
        assert (prompts.ids() == [3]) is expected, frame_stamp
        assert drops == []


def test_text_follows_id_and_newer_prompt_replaces_older():
    store = PromptStore(expire_after_s=5.0)
    store.set_text(3, 0, "tall muscular man")
    store.set_text(4, 0, "child")
    store.set_text(3, 1 * S, "  woman in red  ")
    prompts, _ = store.for_frame(2 * S, W, H)
    assert [(p.person_id, p.text) for p in prompts.people] == [(3, "woman in red"), (4, "child")]
    assert all(p.box is None and p.mask is None for p in prompts.people)


def test_expired_prompts_are_forgotten():
    store = PromptStore(expire_after_s=1.0)
    store.set_text(1, 0, "a")
    store.set_interaction(0, [(1, 2)])
    assert not store.for_frame(3 * S, W, H)[0].people
    # A late frame with an older stamp no longer sees them: they were forgotten, not hidden.
    assert store.for_frame(0, W, H)[0].empty


@pytest.mark.parametrize("box, kind", [
    ([np.nan, 0, 10, 10], "box_not_finite"),
    ([50, 50, 40, 60], "box_inverted"),
    ([700, 10, 800, 100], "box_outside_image"),
    ([1, 2, 3], "box_malformed"),
])
def test_bad_boxes_are_dropped_with_a_reason(box, kind):
    clipped, drop = check_box(box, W, H)
    assert clipped is None and drop.kind == kind


def test_box_partly_outside_is_clipped_and_reported():
    clipped, drop = check_box([-20, 100, 700, 500], W, H)
    np.testing.assert_array_equal(clipped, [0, 100, 640, 480])
    assert drop.kind == "box_clipped"


def test_mask_of_another_size_is_dropped_but_box_of_same_id_kept():
    store = PromptStore()
    store.set_box(7, 0, [10, 10, 50, 80])
    mask = np.zeros((H // 2, W // 2), bool)
    mask[5:9, 5:9] = True
    assert store.set_mask(7, 0, mask) == []
    prompts, drops = store.for_frame(0, W, H)
    assert [d.kind for d in drops] == ["mask_wrong_size"]
    (person,) = prompts.people
    assert person.mask is None and person.box is not None


def test_empty_text_and_self_pairs_are_refused_without_disturbing_others():
    store = PromptStore()
    store.set_text(1, 0, "runner")
    assert [d.kind for d in store.set_text(1, 0, "   ")] == ["text_empty"]
    assert [d.kind for d in store.set_interaction(0, [(2, 2), (5, 1)])] == ["pair_same_id"]
    prompts, _ = store.for_frame(0, W, H)
    assert prompts.people[0].text == "runner"
    assert prompts.interaction_pairs == frozenset({(1, 5)})


def test_clear_one_id_removes_its_pairs():
    store = PromptStore()
    store.set_text(1, 0, "a")
    store.set_text(2, 0, "b")
    store.set_interaction(0, [(1, 2), (2, 3)])
    store.clear(1)
    prompts, _ = store.for_frame(0, W, H)
    assert prompts.ids() == [2] and prompts.interaction_pairs == frozenset({(2, 3)})


def test_drop_counter_reports_first_of_each_kind_and_counts_across_threads():
    counter = DropCounter()
    firsts = []

    def worker():
        for _ in range(500):
            firsts.append(counter.record(Drop("box_inverted", "x")))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.counts() == {"box_inverted": 2000}
    assert sum(firsts) == 1
