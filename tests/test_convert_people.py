"""PersonEstimate checks and HumanMesh field conversion errors (no ROS, no CDR)."""
import numpy as np
import pytest

from ros_phmr.people import PersonEstimate
from ros_phmr.ros.convert import (
    interaction_fields,
    mesh_array_fields,
    mesh_topology_fields,
    msg_fields_to_person,
    person_to_msg_fields,
)


def person_kwargs(num_joints=4, vertices=True):
    return dict(
        track_id=2, score=0.5, box_xyxy=[0, 0, 10, 20], global_orient=np.zeros(3),
        body_pose=np.zeros((21, 3)), left_hand_pose=np.zeros((15, 3)),
        right_hand_pose=np.zeros((15, 3)), jaw_pose=np.zeros(3), betas=np.zeros(10),
        expression=np.zeros(10), transl=[0, 0, 2], joints_3d=np.ones((num_joints, 3)),
        joints_2d=np.ones((num_joints, 2)), vertices=np.ones((6, 3)) if vertices else None,
    )


def test_arrays_become_float32_and_flat_poses_are_accepted():
    kwargs = person_kwargs()
    kwargs["body_pose"] = np.arange(63, dtype=np.float64)
    p = PersonEstimate(**kwargs)
    assert p.body_pose.shape == (21, 3) and p.body_pose.dtype == np.float32
    assert p.box_xyxy.dtype == np.float32 and p.vertices.dtype == np.float32
    assert p.score == np.float32(0.5) and isinstance(p.track_id, int)


@pytest.mark.parametrize("field, value, message", [
    ("body_pose", np.zeros((20, 3)), r"body_pose must have shape \(21, 3\), got \(20, 3\)"),
    ("left_hand_pose", np.zeros(44), r"left_hand_pose must have shape \(15, 3\)"),
    ("box_xyxy", [1, 2, 3], r"box_xyxy must have shape \(4,\)"),
    ("betas", np.zeros((2, 5)), r"betas must have shape \(N,\), got \(2, 5\)"),
    ("vertices", np.zeros((6, 2)), r"vertices must have shape \(N, 3\)"),
    ("transl", ["a", "b", "c"], "transl must be numeric"),
])
def test_wrong_shapes_name_the_field(field, value, message):
    kwargs = person_kwargs()
    kwargs[field] = value
    with pytest.raises(ValueError, match=message):
        PersonEstimate(**kwargs)


def test_joint_counts_must_agree():
    kwargs = person_kwargs()
    kwargs["joints_2d"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match="4 3D joints but 3 2D joints"):
        PersonEstimate(**kwargs)


def test_equality_is_exact_and_field_by_field():
    a, b = PersonEstimate(**person_kwargs()), PersonEstimate(**person_kwargs())
    assert a == b
    b.transl[2] = np.nextafter(np.float32(2), np.float32(3))
    assert a != b
    assert PersonEstimate(**person_kwargs(vertices=False)) != a


def test_field_arrays_are_flat_views_of_the_person():
    p = PersonEstimate(**person_kwargs())
    fields = person_to_msg_fields(p, include_vertices=True)
    assert fields["vertices"].shape == (18,) and fields["body_pose"].shape == (63,)
    assert np.shares_memory(fields["vertices"], p.vertices)   # no copy on the hot path


def test_vertices_requested_but_missing_raises():
    p = PersonEstimate(**person_kwargs(vertices=False))
    with pytest.raises(ValueError, match="include_vertices is set but person 2 has no vertices"):
        person_to_msg_fields(p, include_vertices=True)


@pytest.mark.parametrize("field, value, message", [
    ("body_pose", np.zeros(60, np.float32), "HumanMesh.body_pose must have 63 numbers, got 60"),
    ("joints_3d", np.zeros(10, np.float32), "joints_3d length 10 is not a multiple of 3"),
    ("vertices", np.zeros(7, np.float32), "vertices length 7 is not a multiple of 3"),
])
def test_bad_message_lengths_name_the_field(field, value, message):
    fields = person_to_msg_fields(PersonEstimate(**person_kwargs()), True)
    fields[field] = value
    with pytest.raises(ValueError, match=message):
        msg_fields_to_person(fields)


def test_missing_field_is_named():
    fields = person_to_msg_fields(PersonEstimate(**person_kwargs()), True)
    del fields["betas"]
    with pytest.raises(ValueError, match="no 'betas'"):
        msg_fields_to_person(fields)


def test_mesh_array_k_must_be_3x3():
    with pytest.raises(ValueError, match="k must be a 3x3 matrix, got 4"):
        mesh_array_fields(0, "cam", [], True, k=np.eye(2))


def test_topology_checks_faces():
    with pytest.raises(ValueError, match=r"faces must have shape \(F, 3\)"):
        mesh_topology_fields(0, "smplx", 10, np.zeros((4, 4)), [], 10, 10)
    with pytest.raises(ValueError, match=r"face indices must lie in \[0, 10\), got \[0, 10\]"):
        mesh_topology_fields(0, "smplx", 10, [[0, 1, 10]], [], 10, 10)


def test_interaction_region_lists_must_match():
    with pytest.raises(ValueError, match="equal lengths, got 1, 0, 0"):
        interaction_fields(1, 2, 0.1, np.zeros(3), np.zeros(3), in_contact=False,
                           regions_a=["hand"])


def test_conversion_modules_never_import_rclpy():
    """The conversion layer must load on machines without ROS (CI, bag tools)."""
    import subprocess
    import sys

    modules = ["ros_phmr.people", "ros_phmr.imaging.encodings", "ros_phmr.ros.convert",
               "ros_phmr.ros.msg_fields", "ros_phmr.ros.rep155", "ros_phmr.ros.typestore"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rclpy', 'rosidl_runtime_py', 'cv_bridge'))\nassert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
