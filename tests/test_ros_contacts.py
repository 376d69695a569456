"""ContactConstraintArray -> ros_phmr.refine.ContactConstraint samples, as the node hands them on."""
import pytest

from ros_phmr.ros.convert import contact_constraints_from_msg, contact_sample_pairs
from ros_phmr.ros.msg_fields import header_fields


def constraint(a, b, sample, regions_a, regions_b):
    return {"person_a": a, "person_b": b, "sample_index": sample, "regions_a": regions_a,
            "regions_b": regions_b}


def test_alternatives_and_sides_survive_the_round_trip():
    msg = {"header": header_fields(5, ""), "num_samples": 2, "constraints": [
        constraint(4, 2, 0, ["hand / arm", "head"], ["chest", "left_hand"]),   # sides swap
        constraint(2, 4, 1, ["foot"], ["shin"]),
    ]}
    (pair,), drops = contact_constraints_from_msg(msg)
    assert drops == [] and (pair.person_a, pair.person_b) == (2, 4)
    assert contact_sample_pairs(pair) == [[("chest", "hand/arm"), ("left_hand", "head")],
                                          [("foot", "shin")]]


def test_samples_without_constraints_stay_empty_lists():
    msg = {"header": header_fields(5, ""), "num_samples": 3,
           "constraints": [constraint(1, 3, 2, ["hand"], ["hand"])]}
    (pair,), _ = contact_constraints_from_msg(msg)
    assert contact_sample_pairs(pair) == [[], [], [("hand", "hand")]]


def test_refine_accepts_what_the_node_builds():
    refine = pytest.importorskip("ros_phmr.refine")
    from ros_phmr.body.regions import BASE_REGIONS
    msg = {"header": header_fields(5, ""), "num_samples": 1,
           "constraints": [constraint(7, 9, 0, ["hand/forearm"], ["head"])]}
    (pair,), _ = contact_constraints_from_msg(msg)
    c = refine.ContactConstraint(pair.person_a, pair.person_b, contact_sample_pairs(pair))
    refine.validate_constraint(c, [7, 9], BASE_REGIONS)  # raises ValueError when unusable
    with pytest.raises(ValueError, match="no person with id 9"):
        refine.validate_constraint(c, [7, 8], BASE_REGIONS)
