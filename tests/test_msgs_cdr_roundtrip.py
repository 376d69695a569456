"""Messages built from library values go through real rosbags CDR and come back unchanged."""
import array
from pathlib import Path

import numpy as np
import pytest
from rosbags.serde import SerdeError

from ros_phmr.people import PROMPT_BOX, PROMPT_TEXT, PersonEstimate
from ros_phmr.ros.convert import (
    interaction_array_fields,
    interaction_estimate_fields,
    interaction_estimates_array_fields,
    interaction_fields,
    mesh_array_fields,
    mesh_topology_fields,
    msg_fields_to_person,
    person_to_msg_fields,
)
from ros_phmr.ros.msg_fields import header_fields, stamp_to_ns, to_array_array
from ros_phmr.ros.rep155 import ids_list_fields, roi_fields
from ros_phmr.ros.typestore import build_message, make_typestore, msg_definitions

TESTS = Path(__file__).resolve().parent
MSG_DIR = TESTS.parent / "msg" / "msg"
THIRD_PARTY = TESTS / "data" / "ros_interfaces"

NUM_JOINTS, NUM_VERTICES = 127, 10475
STAMP_NS = 1_700_000_123_456_789_012


@pytest.fixture(scope="module", params=["humble", "jazzy"])
def typestore(request):
    defs = {**msg_definitions(MSG_DIR, "ros_phmr_msgs"),
            **msg_definitions(THIRD_PARTY / "hri_msgs", "hri_msgs")}
    return make_typestore(defs, request.param)


def make_person(seed: int, with_vertices: bool = True) -> PersonEstimate:
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    return PersonEstimate(
        track_id=seed, score=0.87, box_xyxy=np.array([10.5, 20.25, 300.0, 460.75]),
        global_orient=f32(3), body_pose=f32(21, 3), left_hand_pose=f32(15, 3),
        right_hand_pose=f32(15, 3), jaw_pose=f32(3), betas=f32(10), expression=f32(10),
        transl=np.array([0.1, -0.2, 3.5]), joints_3d=f32(NUM_JOINTS, 3),
        joints_2d=f32(NUM_JOINTS, 2) * 500, vertices=f32(NUM_VERTICES, 3) if with_vertices else None,
        prompt_id=seed if seed % 2 else -1, prompt_kinds=PROMPT_BOX | PROMPT_TEXT if seed % 2 else 0,
    )


def _roundtrip(typestore, msgtype, fields):
    msg = build_message(typestore, msgtype, fields)
    raw = typestore.serialize_cdr(msg, msgtype)
    return typestore.deserialize_cdr(bytes(raw), msgtype), len(raw)


def test_mesh_array_roundtrip_is_exact(typestore):
    people = [make_person(1), make_person(2), make_person(3)]
    K = np.array([[900.0, 0, 640.5], [0, 901.0, 360.25], [0, 0, 1]])
    fields = mesh_array_fields(STAMP_NS, "camera_color_optical_frame", people, True,
                               image_width=1280, image_height=720, k=K)
    back, size = _roundtrip(typestore, "ros_phmr_msgs/msg/HumanMeshArray", fields)
    assert stamp_to_ns(back.header.stamp) == STAMP_NS
    assert back.header.frame_id == "camera_color_optical_frame"
    assert (back.image_width, back.image_height, back.default_intrinsics) == (1280, 720, False)
    np.testing.assert_array_equal(back.k.reshape(3, 3), K)
    assert len(back.meshes) == 3
    for person, mesh in zip(people, back.meshes):
        assert mesh.header.frame_id == "camera_color_optical_frame"
        assert mesh.body_id == f"b{person.track_id}"
        assert msg_fields_to_person(mesh) == person          # exact float32 equality
    # flat float32 arrays: the message is the raw numbers plus small overhead
    raw_floats = 3 * 4 * (NUM_VERTICES * 3 + NUM_JOINTS * 5 + 4 + 3 + 63 + 90 + 3 + 20 + 3)
    assert raw_floats < size < raw_floats * 1.01


def test_parameters_only_message_drops_vertices(typestore):
    person = make_person(4)
    fields = mesh_array_fields(STAMP_NS, "cam", [person], include_vertices=False)
    back, size = _roundtrip(typestore, "ros_phmr_msgs/msg/HumanMeshArray", fields)
    restored = msg_fields_to_person(back.meshes[0])
    assert restored.vertices is None
    np.testing.assert_array_equal(restored.joints_3d, person.joints_3d)
    assert size < 5000
    np.testing.assert_array_equal(back.k, np.zeros(9))


def test_field_dicts_roundtrip_without_ros(typestore):
    person = make_person(5)
    assert msg_fields_to_person(person_to_msg_fields(person, True)) == person
    untracked = make_person(6, with_vertices=False)
    untracked.track_id = -1
    fields = person_to_msg_fields(untracked, False)
    assert fields["body_id"] == "" and fields["vertices"].size == 0


def test_empty_frame_roundtrip(typestore):
    fields = mesh_array_fields(STAMP_NS, "cam", [], True)
    back, _ = _roundtrip(typestore, "ros_phmr_msgs/msg/HumanMeshArray", fields)
    assert back.meshes == []


def test_mesh_topology_roundtrip(typestore):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, NUM_VERTICES, size=(20908, 3))
    names = [f"joint_{i}" for i in range(NUM_JOINTS)]
    fields = mesh_topology_fields(STAMP_NS, "smplx", NUM_VERTICES, faces, names, 10, 10,
                                  ["left hand", "right hand", "back"])
    back, size = _roundtrip(typestore, "ros_phmr_msgs/msg/MeshTopology", fields)
    np.testing.assert_array_equal(back.faces.reshape(-1, 3), faces)
    assert back.faces.dtype == np.uint32
    assert back.joint_names == names and back.vertex_count == NUM_VERTICES
    assert back.region_names == ["left hand", "right hand", "back"]
    assert (back.num_betas, back.num_expression, back.model_name) == (10, 10, "smplx")


def test_interaction_array_roundtrip_orders_the_pair(typestore):
    inter = interaction_fields(7, 2, 0.012, [0.1, 0.2, 3.0], [0.11, 0.2, 3.01], in_contact=True,
                               regions_a=["left hand"], regions_b=["back"],
                               region_distances=[0.012], prompted=True)
    fields = interaction_array_fields(STAMP_NS, "cam", [inter])
    back, _ = _roundtrip(typestore, "ros_phmr_msgs/msg/InteractionArray", fields)
    (got,) = back.interactions
    assert (got.person_a, got.person_b) == (2, 7)
    assert got.regions_a == ["back"] and got.regions_b == ["left hand"]   # sides swapped too
    assert (got.closest_a.x, got.closest_b.x) == (0.11, 0.1)
    assert got.in_contact and got.prompted and not got.refined
    assert got.min_distance == np.float32(0.012)


def test_interaction_estimates_roundtrip_with_unmeasured_values_as_nan(typestore):
    interaction = pytest.importorskip("ros_phmr.interaction",
                                      reason="ros_phmr.interaction (tracking work) not present")
    touching = interaction.InteractionEstimate(
        id_a=4, id_b=1, min_distance=0.004,
        region_pairs=[("right hand", "left forearm"), ("head", "head")], prompted=False)
    apart = interaction.InteractionEstimate(id_a=1, id_b=9, min_distance=1.5, prompted=True)
    fields = interaction_array_fields(STAMP_NS, "cam", [interaction_estimate_fields(touching),
                                                        interaction_estimate_fields(apart)])
    back, _ = _roundtrip(typestore, "ros_phmr_msgs/msg/InteractionArray", fields)
    first, second = back.interactions
    assert (first.person_a, first.person_b, first.in_contact) == (1, 4, True)
    assert first.regions_a == ["left forearm", "head"]      # sides follow the ordered pair
    assert first.regions_b == ["right hand", "head"]
    assert np.isnan(first.region_distances).all() and len(first.region_distances) == 2
    assert np.isnan(first.closest_a.x) and np.isnan(first.closest_b.z)
    assert first.min_distance == np.float32(0.004) and not first.prompted
    assert (second.person_a, second.person_b, second.in_contact, second.prompted) == (1, 9, False, True)
    assert list(second.regions_a) == [] and len(second.region_distances) == 0


def test_only_close_touching_or_prompted_pairs_are_published(typestore):
    interaction = pytest.importorskip("ros_phmr.interaction",
                                      reason="ros_phmr.interaction (tracking work) not present")
    estimates = [
        interaction.InteractionEstimate(0, 1, 0.30),                        # close
        interaction.InteractionEstimate(0, 2, 2.00),                        # far: left out
        interaction.InteractionEstimate(1, 2, 3.00, prompted=True),         # far but prompted
        interaction.InteractionEstimate(2, 3, 0.01, [("left hand", "head")]),  # in contact
    ]
    fields = interaction_estimates_array_fields(STAMP_NS, "cam", estimates, max_distance=0.5)
    back, _ = _roundtrip(typestore, "ros_phmr_msgs/msg/InteractionArray", fields)
    assert [(i.person_a, i.person_b) for i in back.interactions] == [(0, 1), (1, 2), (2, 3)]
    none = interaction_estimates_array_fields(STAMP_NS, "cam", estimates[1:2], max_distance=0.5)
    assert none["interactions"] == []


def test_prompt_messages_build_and_roundtrip(typestore):
    header = header_fields(STAMP_NS, "")
    text, _ = _roundtrip(typestore, "ros_phmr_msgs/msg/TextPrompt",
                         {"header": header, "person_id": 3, "text": "tall man in a red coat"})
    assert (text.person_id, text.text) == (3, "tall man in a red coat")
    pairs, _ = _roundtrip(typestore, "ros_phmr_msgs/msg/InteractionPrompt",
                          {"header": header, "pairs": np.array([1, 2, 3, 4], np.int32)})
    np.testing.assert_array_equal(pairs.pairs, [1, 2, 3, 4])
    constraint = {"person_a": 1, "person_b": 2, "sample_index": 0,
                  "regions_a": ["hand"], "regions_b": ["back/shoulder (back)"]}
    contacts, _ = _roundtrip(typestore, "ros_phmr_msgs/msg/ContactConstraintArray",
                             {"header": header, "num_samples": 20, "constraints": [constraint]})
    assert contacts.num_samples == 20 and contacts.constraints[0].regions_b == ["back/shoulder (back)"]


def test_rep155_fields_match_real_hri_msgs(typestore):
    ids, _ = _roundtrip(typestore, "hri_msgs/msg/IdsList", ids_list_fields(STAMP_NS, "cam", [3, -1, 12]))
    assert ids.ids == ["b3", "b12"]
    roi, _ = _roundtrip(typestore, "hri_msgs/msg/NormalizedRegionOfInterest2D",
                        roi_fields(STAMP_NS, "cam", [-10, 72, 320, 800], 640, 480, 0.9))
    expected = np.float32([0.0, 0.15, 0.5, 1.0])   # clipped to the image, divided by its size
    np.testing.assert_array_equal(np.float32([roi.xmin, roi.ymin, roi.xmax, roi.ymax]), expected)
    assert roi.c == np.float32(0.9)


def test_build_message_reports_missing_and_unknown_fields(typestore):
    fields = person_to_msg_fields(make_person(1, with_vertices=False), False)
    del fields["score"]
    fields["scor"] = 1.0
    with pytest.raises(ValueError, match=r"missing fields \['score'\], unknown fields \['scor'\]"):
        build_message(typestore, "ros_phmr_msgs/msg/HumanMesh", fields)


def test_rosbags_refuses_a_wrong_fixed_length():
    """The fixed float32[63] is enforced on the wire, not only by convention."""
    defs = msg_definitions(MSG_DIR, "ros_phmr_msgs")
    typestore = make_typestore(defs)
    fields = person_to_msg_fields(make_person(1, with_vertices=False), False)
    fields["body_pose"] = np.zeros(60, np.float32)
    msg = build_message(typestore, "ros_phmr_msgs/msg/HumanMesh", fields)
    with pytest.raises(SerdeError, match="Unexpected array length"):
        typestore.serialize_cdr(msg, "ros_phmr_msgs/msg/HumanMesh")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint32, np.int32, np.uint16, np.uint8])
def test_to_array_array_keeps_values_and_type(dtype):
    values = (np.arange(7) * 3).astype(dtype)
    out = to_array_array(values)
    assert isinstance(out, array.array) and out.itemsize == values.itemsize
    np.testing.assert_array_equal(np.frombuffer(out, dtype=dtype), values)


def test_header_fields_split_nanoseconds():
    assert header_fields(STAMP_NS, "f") == {
        "stamp": {"sec": 1_700_000_123, "nanosec": 456_789_012}, "frame_id": "f"}
    with pytest.raises(ValueError, match="int32 seconds"):
        header_fields(2**31 * 1_000_000_000, "f")
