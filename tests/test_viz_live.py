"""FoxgloveLive against a real WebSocket client: subscription-driven work, decodable messages,
one mesh per body, rate limiting, and a clear error for a port in use."""
import socket

import numpy as np
import pytest

from foxglove_ws_client import run_receive
from ros_phmr.demo import ground_truth_people, load_demo_body
from ros_phmr.synthetic import SceneConfig, SyntheticScene
from ros_phmr.viz import (ANNOTATIONS_TOPIC, CALIBRATION_TOPIC, IMAGE_TOPIC, SCENE_TOPIC, TF_TOPIC,
                          FoxgloveLive)


@pytest.fixture(scope="module")
def scene():
    body, _, _ = load_demo_body(None)
    return SyntheticScene(body, SceneConfig(width=64, height=48, num_people=2), seed=1)


def _publish_frames(live, scene, indices):
    for i in indices:
        frame = scene.frame(i)
        live.publish(frame.stamp_ns, frame.image, frame.K, ground_truth_people(frame), scene.faces)


def test_scene_channel_sends_one_mesh_entity_per_body(scene):
    frame = scene.frame(0)
    people = ground_truth_people(frame)
    with FoxgloveLive(port=0, scene_rate_hz=1000.0) as live:
        live.publish(frame.stamp_ns, frame.image, frame.K, people, scene.faces)   # nobody listens
        assert live.meshes_published == 0
        got = run_receive(live.url, [SCENE_TOPIC, IMAGE_TOPIC, CALIBRATION_TOPIC, ANNOTATIONS_TOPIC, TF_TOPIC], 1,
                          on_subscribed=lambda: _publish_frames(live, scene, [0, 1]))
    assert got["subprotocol"] in ("foxglove.sdk.v1", "foxglove.websocket.v1")
    assert got["channels"][SCENE_TOPIC]["schemaName"] == "foxglove.SceneUpdate"
    log_time, update = got["messages"][SCENE_TOPIC][0]
    assert log_time == frame.stamp_ns
    meshes = [e for e in update.entities if len(e.triangles)]
    assert sorted(e.id for e in meshes) == ["estimate_mesh_0", "estimate_mesh_1"]
    for entity, person in zip(sorted(meshes, key=lambda e: e.id), people):
        tri = entity.triangles[0]
        points = np.array([[p.x, p.y, p.z] for p in tri.points])
        np.testing.assert_allclose(points, person.vertices, atol=1e-6)
        np.testing.assert_array_equal(np.array(tri.indices).reshape(-1, 3), scene.faces)
        assert entity.frame_id == "camera_optical_frame"
    skeletons = [e for e in update.entities if e.id.startswith("estimate_body_")]
    assert len(skeletons) == 2 and all(len(e.spheres) == 22 and len(e.texts) == 1 for e in skeletons)
    # The two bodies get different colours.
    colors = {(e.triangles[0].color.r, e.triangles[0].color.g, e.triangles[0].color.b) for e in meshes}
    assert len(colors) == 2
    _, image = got["messages"][IMAGE_TOPIC][0]
    assert (image.width, image.height, image.encoding) == (64, 48, "rgb8")
    np.testing.assert_array_equal(np.frombuffer(image.data, np.uint8).reshape(48, 64, 3), frame.image)
    _, calibration = got["messages"][CALIBRATION_TOPIC][0]
    np.testing.assert_allclose(np.array(calibration.K).reshape(3, 3), frame.K)
    _, annotations = got["messages"][ANNOTATIONS_TOPIC][0]
    assert len(annotations.points) == 4 and len(annotations.texts) == 2     # box + skeleton per person
    _, tf = got["messages"][TF_TOPIC][0]
    assert [t.child_frame_id for t in tf.transforms] == ["camera_optical_frame", "body_b0", "body_b1"]
    np.testing.assert_allclose([tf.transforms[1].translation.x, tf.transforms[1].translation.y,
                                tf.transforms[1].translation.z], people[0].joints_3d[0], atol=1e-6)


def test_meshes_follow_the_scene_rate(scene):
    with FoxgloveLive(port=0, scene_rate_hz=10.0) as live:
        got = run_receive(live.url, [SCENE_TOPIC], 6, on_subscribed=lambda: _publish_frames(live, scene, range(6)))
    with_meshes = [any(len(e.triangles) for e in u.entities) for _, u in got["messages"][SCENE_TOPIC]]
    # 6 frames at 30 fps span 0.17 s: at 10 Hz, frames 0 and 3 carry meshes, every frame skeletons.
    assert with_meshes == [True, False, False, True, False, False]
    assert all(any(e.id.startswith("estimate_body_") for e in u.entities) for _, u in got["messages"][SCENE_TOPIC])


def test_port_in_use_is_a_clear_oserror():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"port {port} .*in use"):
            FoxgloveLive(port=port)


def test_bad_arguments():
    with pytest.raises(ValueError, match="scene_rate_hz"):
        FoxgloveLive(port=0, scene_rate_hz=0)
    with pytest.raises(ValueError, match="port"):
        FoxgloveLive(port=70000)
