"""RViz markers (ros_phmr.ros.markers) through real rosbags CDR, Humble and Jazzy layouts."""
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from ros_phmr.people import PersonEstimate
from ros_phmr.ros.markers import (DELETEALL, LINE_LIST, TRIANGLE_LIST, id_color,
                                  marker_array_fields)
from ros_phmr.ros.typestore import build_message

STAMP_NS = 1_700_000_000_250_000_000
# SMPL-X kinematic facts (joint index: parent index), from the published joint order.
BONES_FROM_THE_SPEC = {4: 1, 21: 19, 15: 12, 12: 9, 1: 0, 40: 21, 37: 20}  # knee-hip, wrist-elbow, ...


def person(track_id: int, seed: int, vertices: int = 0) -> PersonEstimate:
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    return PersonEstimate(
        track_id=track_id, score=0.9, box_xyxy=np.array([1.0, 2.0, 30.0, 40.0]),
        global_orient=f32(3), body_pose=f32(21, 3), left_hand_pose=f32(15, 3),
        right_hand_pose=f32(15, 3), jaw_pose=f32(3), betas=f32(10), expression=f32(10),
        transl=f32(3), joints_3d=f32(127, 3), joints_2d=f32(127, 2),
        vertices=f32(vertices, 3) if vertices else None)


@pytest.fixture(scope="module", params=[Stores.ROS2_HUMBLE, Stores.ROS2_JAZZY])
def typestore(request):
    return get_typestore(request.param)


def roundtrip(typestore, fields):
    name = "visualization_msgs/msg/MarkerArray"
    raw = typestore.serialize_cdr(build_message(typestore, name, fields), name)
    return typestore.deserialize_cdr(bytes(raw), name)


def test_skeleton_markers_follow_the_smplx_tree(typestore):
    people = [person(3, 0), person(-1, 1)]
    back = roundtrip(typestore, marker_array_fields(STAMP_NS, "cam_optical", people))
    clear, first, untracked = back.markers
    assert clear.action == DELETEALL
    assert first.type == LINE_LIST and first.id == 3 and untracked.id == 1_000_001
    assert first.header.frame_id == "cam_optical"
    assert (first.header.stamp.sec, first.header.stamp.nanosec) == (1_700_000_000, 250_000_000)
    assert len(first.points) == 2 * 54
    assert first.lifetime.nanosec == 500_000_000 and first.color.a == 1.0
    segments = np.array([[p.x, p.y, p.z] for p in first.points]).reshape(54, 2, 3)
    joints = people[0].joints_3d.astype(np.float64)
    for child, parent in BONES_FROM_THE_SPEC.items():
        np.testing.assert_allclose(segments[child - 1], joints[[child, parent]], rtol=1e-6)


def test_mesh_marker_repeats_vertices_per_face(typestore):
    faces = np.array([[0, 1, 2], [2, 3, 0], [4, 5, 1]], dtype=np.uint32)
    p = person(5, 2, vertices=6)
    back = roundtrip(typestore, marker_array_fields(STAMP_NS, "cam", [p], "mesh", faces))
    mesh = back.markers[1]
    assert mesh.type == TRIANGLE_LIST and len(mesh.points) == 9
    pts = np.array([[q.x, q.y, q.z] for q in mesh.points])
    np.testing.assert_allclose(pts[3:6], p.vertices[[2, 3, 0]], rtol=1e-6)
    assert (mesh.scale.x, mesh.pose.orientation.w) == (1.0, 1.0)


def test_colours_are_stable_and_distinct_per_id():
    assert id_color(4) == id_color(4)
    colours = {tuple(round(c, 3) for c in id_color(i)) for i in range(12)}
    assert len(colours) == 12
    assert id_color(-1) == (0.6, 0.6, 0.6)
    assert all(0.0 <= c <= 1.0 for i in range(12) for c in id_color(i))


def test_empty_frame_only_clears():
    fields = marker_array_fields(STAMP_NS, "cam", [])
    assert [m["action"] for m in fields["markers"]] == [DELETEALL]


@pytest.mark.parametrize("kwargs, match", [
    ({"style": "cubes"}, "marker style"),
    ({"style": "mesh"}, "needs the mesh faces"),
    ({"style": "mesh", "faces": np.zeros((2, 2))}, "faces must have shape"),
])
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        marker_array_fields(STAMP_NS, "cam", [person(1, 0, vertices=3)], **kwargs)


def test_mesh_marker_needs_vertices():
    with pytest.raises(ValueError, match="no vertices"):
        marker_array_fields(STAMP_NS, "cam", [person(1, 0)], "mesh", np.zeros((1, 3)))
