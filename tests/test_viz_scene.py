"""Scene builder, image annotations and transforms, decoded through the protobuf schema the SDK
publishes (google.protobuf, not the SDK's own objects)."""
from types import SimpleNamespace

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from scipy.spatial.transform import Rotation

from ros_phmr.people import PersonEstimate
from ros_phmr.viz import frame_transforms, image_annotations, scene_update
from ros_phmr.viz.scene import BONES


def _decode(sdk_message):
    schema = type(sdk_message).get_schema()
    files = descriptor_pb2.FileDescriptorSet.FromString(schema.data)
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.name))
    return cls.FromString(sdk_message.encode())


def _person(track_id, offset, rng, vertices=True):
    joints = rng.normal(0, 0.3, (127, 3)) + offset
    return PersonEstimate(
        track_id=track_id, score=0.9, box_xyxy=[10, 20, 50, 90], global_orient=rng.normal(0, 0.5, 3),
        body_pose=np.zeros((21, 3)), left_hand_pose=np.zeros((15, 3)), right_hand_pose=np.zeros((15, 3)),
        jaw_pose=np.zeros(3), betas=np.zeros(10), expression=np.zeros(10), transl=offset,
        joints_3d=joints, joints_2d=rng.uniform(0, 60, (127, 2)),
        vertices=rng.normal(0, 0.3, (8, 3)) + offset if vertices else None)


@pytest.fixture
def people():
    rng = np.random.default_rng(0)
    return [_person(4, np.array([0.0, 0.0, 3.0]), rng), _person(9, np.array([0.6, 0.0, 3.2]), rng),
            _person(-1, np.array([-2.0, 0.0, 5.0]), rng, vertices=False)]


FACES = np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7]], dtype=np.uint32)


def test_entities_meshes_skeletons_and_contacts(people):
    contact = SimpleNamespace(id_a=4, id_b=9, min_distance=0.05, region_pairs=[("left_hand", "right_arm")])
    missing = SimpleNamespace(id_a=4, id_b=77, min_distance=0.1)          # partner not in the frame
    update = _decode(scene_update(people, FACES, 1_500_000_000, "cam", interactions=[contact, missing]))
    ids = [e.id for e in update.entities]
    assert ids == ["estimate_body_4", "estimate_body_9", "estimate_body_u2", "estimate_mesh_4", "estimate_mesh_9",
                   "contact_4_9"]
    mesh = update.entities[3]
    assert mesh.frame_id == "cam" and (mesh.timestamp.seconds, mesh.timestamp.nanos) == (1, 500_000_000)
    np.testing.assert_allclose([[p.x, p.y, p.z] for p in mesh.triangles[0].points], people[0].vertices, atol=1e-6)
    assert list(mesh.triangles[0].indices) == FACES.reshape(-1).tolist()
    skeleton = update.entities[0]
    np.testing.assert_allclose([[s.pose.position.x, s.pose.position.y, s.pose.position.z] for s in skeleton.spheres],
                               people[0].joints_3d[:22], atol=1e-6)
    line_points = np.array([[p.x, p.y, p.z] for p in skeleton.lines[0].points])      # (42, 3) bone ends
    np.testing.assert_allclose(line_points[0::2], people[0].joints_3d[BONES[:, 0]], atol=1e-6)
    assert skeleton.texts[0].text.startswith("b4")
    assert update.entities[2].texts[0].text.startswith("#2 (untracked)")
    # Contact line: between the closest pair of joints, found here by brute force.
    best = min(((np.linalg.norm(a - b), i, j) for i, a in enumerate(people[0].joints_3d)
                for j, b in enumerate(people[1].joints_3d)))
    ends = np.array([[p.x, p.y, p.z] for p in update.entities[5].lines[0].points])
    np.testing.assert_allclose(ends, [people[0].joints_3d[best[1]], people[1].joints_3d[best[2]]], atol=1e-6)
    assert update.entities[5].texts[0].text == "5 cm"


def test_without_meshes_and_bad_faces(people):
    update = _decode(scene_update(people, None, 0, "cam", meshes=False))
    assert all(len(e.triangles) == 0 for e in update.entities)
    with pytest.raises(ValueError, match="no faces"):
        scene_update(people, None, 0, "cam")
    with pytest.raises(ValueError, match="face indices reach 99"):
        scene_update(people, np.array([[0, 1, 99]]), 0, "cam")


def test_image_annotations(people):
    ann = _decode(image_annotations(people[:1], 0))
    box, skeleton = ann.points
    assert [(p.x, p.y) for p in box.points] == [(10, 20), (50, 20), (50, 90), (10, 90)]
    np.testing.assert_allclose([[p.x, p.y] for p in skeleton.points][1::2], people[0].joints_2d[BONES[:, 1]], atol=1e-6)
    assert ann.texts[0].text.startswith("b4")


def test_frame_transforms(people):
    tf = _decode(frame_transforms(people, 7, "cam"))
    assert [(t.parent_frame_id, t.child_frame_id) for t in tf.transforms] == [
        ("world", "cam"), ("cam", "body_b4"), ("cam", "body_b9")]      # untracked person: no frame
    q = tf.transforms[1].rotation
    expected = Rotation.from_rotvec(people[0].global_orient.astype(float))
    assert (Rotation.from_quat([q.x, q.y, q.z, q.w]).inv() * expected).magnitude() < 1e-6
    cam = tf.transforms[0].rotation
    # The optical z axis (forward) points along world x; optical y (down) along world -z.
    R = Rotation.from_quat([cam.x, cam.y, cam.z, cam.w]).as_matrix()
    np.testing.assert_allclose(R @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(R @ [0, 1, 0], [0, 0, -1], atol=1e-12)
