"""Contact regions derived from the skinning weights."""
import numpy as np
import pytest
import torch
from smplx.vertex_ids import vertex_ids as SMPLX_VERTEX_IDS

from ros_phmr.body import BodyModel, BodyRegions, load_model_arrays, write_synthetic_smplx
from ros_phmr.body.regions import BASE_REGIONS

VID = SMPLX_VERTEX_IDS["smplx"]
SIDED = ("shoulder", "upper_arm", "forearm", "hand", "thigh", "shin", "foot", "arm", "leg")


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("smplx_for_regions")
    write_synthetic_smplx(root, seed=0)
    return load_model_arrays(root)


@pytest.fixture(scope="module")
def regions(arrays):
    return BodyRegions.from_model(arrays)


def centroid(regions, arrays, name):
    return arrays["v_template"][regions.vertex_ids(name).numpy()].mean(0)


def test_every_vertex_is_covered_and_every_region_used(regions):
    base = regions.mask[[regions.index(n) for n in BASE_REGIONS]]
    assert base.any(0).all()
    assert regions.mask.any(1).all(), [n for n, row in zip(regions.names, regions.mask) if not row.any()]
    assert regions.mask.shape == (len(regions.names), 10475) and regions.mask.dtype == torch.bool


def test_left_and_right_are_mirror_images(regions, arrays):
    v = arrays["v_template"]
    for part in SIDED:
        left, right = regions.vertex_ids(f"left_{part}"), regions.vertex_ids(f"right_{part}")
        assert len(left) == len(right), part
        assert (v[left.numpy(), 0] > -1e-6).all() and (v[right.numpy(), 0] < 1e-6).all(), part


def test_regions_are_where_their_names_say(regions, arrays):
    y = lambda name: centroid(regions, arrays, name)[1]  # noqa: E731
    assert y("head") > y("neck") > y("chest") > y("stomach") > y("hips") > y("left_thigh")
    assert y("left_thigh") > y("left_shin") > y("left_foot")
    assert centroid(regions, arrays, "chest")[2] > centroid(regions, arrays, "back")[2]
    assert centroid(regions, arrays, "butt")[2] < centroid(regions, arrays, "waist")[2]
    x = lambda name: centroid(regions, arrays, name)[0]  # noqa: E731
    assert x("left_hand") > x("left_forearm") > x("left_upper_arm") > x("left_shoulder") > 0.0
    assert x("right_hand") < -0.6


def test_keypoint_vertices_fall_in_the_matching_regions(regions):
    def holds(name, vertex):
        return bool(regions.mask[regions.index(name), vertex])
    assert holds("head", VID["nose"]) and holds("head", VID["leye"]) and holds("head", VID["rear"])
    for tip in ("thumb", "index", "middle", "ring", "pinky"):
        assert holds("left_hand", VID["l" + tip]) and holds("right_hand", VID["r" + tip])
    for point in ("BigToe", "SmallToe", "Heel"):
        assert holds("left_foot", VID["L" + point]) and holds("right_foot", VID["R" + point])


def test_unions_and_splits(regions):
    mask = lambda name: regions.mask[regions.index(name)]  # noqa: E731
    assert torch.equal(mask("left_arm"), mask("left_upper_arm") | mask("left_forearm"))
    assert torch.equal(mask("right_leg"), mask("right_thigh") | mask("right_shin"))
    assert torch.equal(mask("butt") | mask("waist"), mask("hips"))
    assert not (mask("butt") & mask("waist")).any()


def test_deterministic_and_served_by_the_body_model(regions, arrays):
    again = BodyRegions.from_model(arrays)
    assert again.names == regions.names and torch.equal(again.mask, regions.mask)
    body = BodyModel(arrays)
    assert body.regions.names == regions.names and torch.equal(body.regions.mask, regions.mask)
    ids = body.regions.vertex_ids("left_hand")
    assert ids.dtype == torch.int64 and torch.equal(ids, torch.nonzero(regions.mask[regions.index("left_hand")])[:, 0])


def test_unknown_region_name_lists_the_known_ones(regions):
    with pytest.raises(ValueError, match="unknown body region 'elbow'.*left_forearm"):
        regions.vertex_ids("elbow")


def test_works_on_weights_that_are_not_the_mannequins(arrays):
    """Regions only need weights, template and regressor: shuffle the weights' vertex order and
    the regions follow the vertices (no dependence on the synthetic mesh's layout)."""
    order = np.random.default_rng(0).permutation(10475)
    shuffled = dict(arrays, weights=arrays["weights"][order], v_template=arrays["v_template"][order],
                    J_regressor=arrays["J_regressor"][:, order])
    a, b = BodyRegions.from_model(arrays), BodyRegions.from_model(shuffled)
    assert torch.equal(a.mask[:, order], b.mask)
