"""Interaction analysis on synthetic pairs posed in contact (hand on shoulder, handshake, hug)
and 20 cm apart; the expected region pairs come from a brute-force KD-tree over all vertices."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from ros_phmr.bench.refine_bench import contact_scene, region_vertices
from ros_phmr.body import BodyModel
from ros_phmr.demo import synthetic_model_path
from ros_phmr.interaction import REPORTED_REGIONS, InteractionAnalyzer

THRESHOLD = 0.02


@pytest.fixture(scope="module")
def body():
    return BodyModel.from_file(synthetic_model_path())


@pytest.fixture(scope="module")
def analyzer(body):
    return InteractionAnalyzer.from_body(body, contact_threshold=THRESHOLD)


@pytest.fixture(scope="module")
def scenes(body):
    return {kind: contact_scene(body, kind) for kind in ("hand_on_shoulder", "handshake", "hug", "apart_20cm")}


def _brute_force_pairs(body, a, b):
    """Every (region of a, region of b) whose closest vertices are within the threshold."""
    trees = {r: cKDTree(region_vertices(body, b, r)) for r in REPORTED_REGIONS}
    found = set()
    for ra in REPORTED_REGIONS:
        pts = region_vertices(body, a, ra)
        for rb, tree in trees.items():
            if tree.query(pts, distance_upper_bound=THRESHOLD)[0].min() < THRESHOLD:
                found.add((ra, rb))
    return found


@pytest.mark.parametrize("kind", ["hand_on_shoulder", "handshake", "hug"])
def test_pairs_in_contact_report_the_touching_regions(body, analyzer, scenes, kind):
    a, b, _, touching = scenes[kind]
    (inter,), _ = analyzer.analyze(np.stack([a.vertices, b.vertices]), [0, 1])
    reported = set(inter.region_pairs)
    assert reported == _brute_force_pairs(body, a, b)
    assert set(touching) <= reported
    assert inter.min_distance < 0.003 and inter.in_contact
    if kind == "hug":
        assert {("left_hand", "back"), ("right_hand", "back"), ("chest", "chest")} <= reported
    if kind == "handshake":
        assert not any("hand" in ra and "hand" in rb and (ra, rb) != ("right_hand", "right_hand")
                       for ra, rb in reported)


def test_people_20_cm_apart_are_not_in_contact(analyzer, scenes):
    a, b, _, _ = scenes["apart_20cm"]
    exact = cKDTree(b.vertices).query(a.vertices)[0].min()
    assert exact == pytest.approx(0.20, abs=0.002)
    (inter,), selfs = analyzer.analyze(torch.as_tensor(np.stack([a.vertices, b.vertices])), [0, 1])
    assert inter.region_pairs == [] and not inter.in_contact
    assert exact - 1e-6 <= inter.min_distance <= exact + 0.03  # sampled bound above the truth
    assert [s.region_pairs for s in selfs] == [[], []]


def test_self_contact_matches_brute_force(body, analyzer, scenes):
    a, b, _, _ = scenes["hug"]  # A's hands meet behind B's back
    _, selfs = analyzer.analyze(np.stack([a.vertices, b.vertices]), [4, 9])
    assert [s.track_id for s in selfs] == [4, 9]
    names = analyzer.names
    allowed = analyzer.self_pairs_allowed.numpy()
    expected = {(names[i], names[j]) for i, j in zip(*np.nonzero(allowed))
                if cKDTree(region_vertices(body, a, names[j])).query(
                    region_vertices(body, a, names[i]))[0].min() < THRESHOLD}
    assert set(selfs[0].region_pairs) == expected and ("left_hand", "right_hand") in expected
    assert ("left_forearm", "left_hand") not in expected  # neighbours at rest never count


def test_pairs_ordered_by_id_and_prompted_flag(analyzer, scenes):
    a, b, _, _ = scenes["handshake"]
    far = b.vertices + np.array([3.0, 0.0, 0.0], np.float32)
    inters, _ = analyzer.analyze(np.stack([b.vertices, a.vertices, far]), [5, 2, 8],
                                 prompted_pairs={(8, 2)}, self_contact=False)
    assert [(i.id_a, i.id_b) for i in inters] == [(2, 5), (2, 8), (5, 8)]
    assert [i.prompted for i in inters] == [False, True, False]
    assert inters[0].region_pairs == [("right_hand", "right_hand")]  # seen from id 2 (= a)
    assert not inters[1].in_contact and inters[1].min_distance > 2.0


def test_bad_input(body, analyzer, scenes):
    a, b, _, _ = scenes["handshake"]
    verts = np.stack([a.vertices, b.vertices])
    with pytest.raises(ValueError, match="distinct"):
        analyzer.analyze(verts, [1, 1])
    with pytest.raises(ValueError, match="2 meshes but 3 ids"):
        analyzer.analyze(verts, [1, 2, 3])
    with pytest.raises(ValueError, match=r"\(N, V, 3\)"):
        analyzer.analyze(verts[0], [1])
    with pytest.raises(ValueError, match="contact_threshold"):
        InteractionAnalyzer(body.regions, body.v_template.numpy(), contact_threshold=0.0)
    assert analyzer.analyze(np.zeros((0, 10475, 3)), []) == ([], [])


def test_far_pairs_report_their_bounding_box_gap(body):
    a, b, _, _ = contact_scene(body, "handshake")
    analyzer = InteractionAnalyzer.from_body(body, contact_threshold=THRESHOLD, far_distance=0.3)
    far = b.vertices + np.array([2.0, 0.0, 0.0], np.float32)
    (inter,), selfs = analyzer.analyze(np.stack([a.vertices, far]), [0, 1])
    gap = far.min(0)[0] - a.vertices.max(0)[0]  # boxes separated along x only
    assert len(selfs) == 2
    assert inter.min_distance == pytest.approx(gap, abs=1e-5) and inter.region_pairs == []
    assert inter.min_distance <= cKDTree(far).query(a.vertices)[0].min()  # a lower bound
    with pytest.raises(ValueError, match="far_distance"):
        InteractionAnalyzer(body.regions, body.v_template.numpy(), contact_threshold=0.05, far_distance=0.01)
