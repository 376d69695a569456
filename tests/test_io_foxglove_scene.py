"""SceneUpdate CDR bytes equal what rosbags serialises from the same message built field by field,
and decode to the bodies given."""
import numpy as np
import pytest

from ros_phmr.io.foxglove_scene import SCENE_UPDATE_TYPE, body_color, scene_update_cdr
from ros_phmr.io.mcap_writer import ros2_typestore


@pytest.fixture(scope="module")
def ts():
    return ros2_typestore()


def _reference_bytes(ts, body_ids, vertices, faces, stamp_ns, frame_id, kind, lifetime_ns, labels=None):
    """The same SceneUpdate built from rosbags message objects and serialised by rosbags."""
    T = ts.types
    Point = T["geometry_msgs/msg/Point"]
    pose = T["geometry_msgs/msg/Pose"](position=Point(x=0.0, y=0.0, z=0.0),
                                       orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
    stamp = T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    lifetime = T["builtin_interfaces/msg/Duration"](sec=lifetime_ns // 10**9, nanosec=lifetime_ns % 10**9)
    entities = []
    for index, (body_id, verts) in enumerate(zip(body_ids, vertices)):
        r, g, b, a = body_color(kind, body_id)
        texts = []
        if labels is not None:
            top = verts[np.argmin(verts[:, 1])]
            texts = [T["foxglove_msgs/msg/TextPrimitive"](
                pose=T["geometry_msgs/msg/Pose"](
                    position=Point(x=top[0], y=top[1] - 0.15, z=top[2]),
                    orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)),
                billboard=True, font_size=0.12, scale_invariant=False,
                color=T["foxglove_msgs/msg/Color"](r=r, g=g, b=b, a=a), text=labels[index])]
        tri = T["foxglove_msgs/msg/TriangleListPrimitive"](
            pose=pose, points=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in verts],
            color=T["foxglove_msgs/msg/Color"](r=r, g=g, b=b, a=a), colors=[],
            indices=np.asarray(faces, dtype=np.uint32).reshape(-1))
        kv = T["foxglove_msgs/msg/KeyValuePair"]
        entities.append(T["foxglove_msgs/msg/SceneEntity"](
            timestamp=stamp, frame_id=frame_id, id=f"{kind}_{body_id}", lifetime=lifetime, frame_locked=False,
            metadata=[kv(key="kind", value=kind), kv(key="body_id", value=str(body_id))],
            arrows=[], cubes=[], spheres=[], cylinders=[], lines=[], triangles=[tri], texts=texts, models=[]))
    msg = T[SCENE_UPDATE_TYPE](deletions=[], entities=entities)
    return ts.serialize_cdr(msg, SCENE_UPDATE_TYPE)


@pytest.mark.parametrize("frame_id, kind, body_ids", [
    ("cam", "ground_truth", [3, 7]),
    ("camera_color_optical_frame", "estimate", [12]),       # other string lengths -> other padding
    ("c", "ground_truth", []),
])
def test_bytes_equal_rosbags_serialisation(ts, frame_id, kind, body_ids):
    rng = np.random.default_rng(len(body_ids))
    vertices = rng.normal(size=(len(body_ids), 7, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    stamp, lifetime = 1_700_000_000_987_654_321, 100_000_000
    ours = scene_update_cdr(body_ids, vertices, faces, stamp, frame_id, kind=kind, lifetime_ns=lifetime)
    reference = _reference_bytes(ts, body_ids, vertices.astype(np.float64), faces, stamp, frame_id, kind, lifetime)
    assert ours == reference
    decoded = ts.deserialize_cdr(ours, SCENE_UPDATE_TYPE)
    assert [e.id for e in decoded.entities] == [f"{kind}_{i}" for i in body_ids]
    for entity, verts in zip(decoded.entities, vertices):
        points = np.array([[p.x, p.y, p.z] for p in entity.triangles[0].points])
        assert np.array_equal(points, verts.astype(np.float64))


def test_labels_bytes_equal_rosbags_serialisation(ts):
    rng = np.random.default_rng(5)
    vertices = rng.normal(size=(2, 7, 3))
    faces = np.array([[0, 1, 2], [4, 5, 6]])
    labels = ["b3 0.91", "b12 0.5 with a longer label"]          # different lengths -> different padding
    ours = scene_update_cdr([3, 12], vertices, faces, 42, "cam", kind="estimate", labels=labels)
    assert ours == _reference_bytes(ts, [3, 12], vertices, faces, 42, "cam", "estimate", 0, labels=labels)
    assert [e.texts[0].text for e in ts.deserialize_cdr(ours, SCENE_UPDATE_TYPE).entities] == labels
    with pytest.raises(ValueError, match="one text per body"):
        scene_update_cdr([3, 12], vertices, faces, 42, "cam", labels=["x"])


def test_styles_and_validation():
    assert body_color("ground_truth", 1)[3] < body_color("estimate", 1)[3]
    assert body_color("ground_truth", 0)[:3] != body_color("ground_truth", 1)[:3]
    with pytest.raises(ValueError, match="kind"):
        body_color("guess", 0)
    verts = np.zeros((2, 3, 3))
    tri = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match="body ids"):
        scene_update_cdr([0], verts, tri, 0, "cam")
    with pytest.raises(ValueError, match="out of range"):
        scene_update_cdr([0, 1], verts, np.array([[0, 1, 3]]), 0, "cam")
    with pytest.raises(ValueError, match="NaN"):
        scene_update_cdr([0, 1], verts * np.nan, tri, 0, "cam")
    with pytest.raises(ValueError, match="kind"):
        scene_update_cdr([0, 1], verts, tri, 0, "cam", kind="guess")
    with pytest.raises(ValueError, match=">= 0"):
        scene_update_cdr([0, 1], verts, tri, -5, "cam")
