"""McapWriter: recordings read back with the real readers (mcap, mcap-ros2-support, rosbags) and
stay readable when writing is interrupted."""
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader

from ros_phmr.io.foxglove_scene import SCENE_UPDATE_TYPE, body_color, scene_update_cdr
from ros_phmr.io.mcap_writer import McapWriter, qos_profile_metadata
from ros_phmr.io.ros2_messages import camera_info_message, image_message, transform_message

STAMP0 = 1_700_000_000_123_456_789
K = np.array([[50.0, 0.0, 16.0], [0.0, 50.0, 12.0], [0.0, 0.0, 1.0]])
FACES = np.array([[0, 1, 2], [0, 2, 3]])


def _image(i):
    return (np.arange(24 * 32 * 3, dtype=np.int64).reshape(24, 32, 3) * (i + 1) % 251).astype(np.uint8)


def _bodies(i):
    base = np.array([[0.0, 0.0, 3.0], [0.5, 0.0, 3.0], [0.5, 1.0, 3.0], [0.0, 1.0, 3.0]])
    return np.stack([base + [0.1 * i, 0, 0], base + [-1.0, 0, 1.0]])        # (2, 4, 3)


def _write_frames(writer, count, fail_at=None):
    ts = writer.typestore
    writer.add_ros2_channel("/cam/image", "sensor_msgs/msg/Image")
    writer.add_ros2_channel("/cam/info", "sensor_msgs/msg/CameraInfo")
    writer.add_ros2_channel("/tf_static", "tf2_msgs/msg/TFMessage",
                            metadata=qos_profile_metadata("transient_local", depth=1))
    writer.add_ros2_channel("/scene", SCENE_UPDATE_TYPE)
    for i in range(count):
        if i == fail_at:
            raise RuntimeError("boom")
        stamp = STAMP0 + i * 33_333_333
        writer.write_ros2("/cam/image", image_message(ts, _image(i), stamp, "cam"), stamp)
        writer.write_ros2("/cam/info", camera_info_message(ts, K, 32, 24, stamp, "cam"), stamp)
        writer.write_ros2("/tf_static", transform_message(ts, "world", "cam", np.eye(3), np.array([0, 0, 1.5]), stamp), stamp)
        writer.write("/scene", scene_update_cdr([3, 7], _bodies(i), FACES, stamp, "cam"), stamp)


def _read_all(path):
    """{topic: [(log_time, decoded message)]} through mcap + mcap_ros2 (its own CDR decoder)."""
    out = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _schema, channel, message, decoded in reader.iter_decoded_messages():
            out.setdefault(channel.topic, []).append((message.log_time, decoded))
    return out


def test_roundtrip_with_mcap_ros2_decoder(tmp_path):
    path = tmp_path / "rec.mcap"
    with McapWriter(path) as writer:
        _write_frames(writer, 3)
        writer.add_metadata("info", {"kind": "test", "n": 3})
        assert writer.counts == {"/cam/image": 3, "/cam/info": 3, "/tf_static": 3, "/scene": 3}
    assert writer.closed
    messages = _read_all(path)
    assert {t: len(v) for t, v in messages.items()} == {"/cam/image": 3, "/cam/info": 3, "/tf_static": 3, "/scene": 3}

    for i, (log_time, img) in enumerate(messages["/cam/image"]):
        assert log_time == STAMP0 + i * 33_333_333
        assert (img.header.stamp.sec, img.header.stamp.nanosec) == divmod(log_time, 10**9)
        assert (img.width, img.height, img.encoding, img.step) == (32, 24, "rgb8", 96)
        assert np.array_equal(np.frombuffer(bytes(img.data), np.uint8).reshape(24, 32, 3), _image(i))
    info = messages["/cam/info"][0][1]
    assert np.allclose(np.reshape(info.k, (3, 3)), K)
    assert np.allclose(np.reshape(info.p, (3, 4))[:, :3], K) and info.distortion_model == "plumb_bob"
    tf = messages["/tf_static"][0][1].transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("world", "cam")
    assert tf.transform.translation.z == pytest.approx(1.5) and tf.transform.rotation.w == pytest.approx(1.0)

    scene = messages["/scene"][2][1]
    assert [e.id for e in scene.entities] == ["ground_truth_3", "ground_truth_7"]
    entity = scene.entities[0]
    assert entity.frame_id == "cam" and len(entity.triangles) == 1
    tri = entity.triangles[0]
    points = np.array([[p.x, p.y, p.z] for p in tri.points])
    assert np.allclose(points, _bodies(2)[0])
    assert list(tri.indices) == FACES.reshape(-1).tolist()
    assert (tri.color.r, tri.color.g, tri.color.b, tri.color.a) == pytest.approx(body_color("ground_truth", 3))
    assert {kv.key: kv.value for kv in entity.metadata} == {"kind": "ground_truth", "body_id": "3"}

    with open(path, "rb") as f:
        reader = make_reader(f)
        assert reader.get_header().profile == "ros2"
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
        assert metadata["info"] == {"kind": "test", "n": "3"}
        schemas = reader.get_summary().schemas.values()
        assert {s.encoding for s in schemas} == {"ros2msg"}


def test_roundtrip_with_rosbags_anyreader(tmp_path):
    path = tmp_path / "rec.mcap"
    with McapWriter(path) as writer:
        _write_frames(writer, 2)
    with AnyReader([Path(path)]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts == {"/cam/image": 2, "/cam/info": 2, "/tf_static": 2, "/scene": 2}
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types["/scene"] == "foxglove_msgs/msg/SceneUpdate"
        # rosbag2-style QoS metadata: /tf_static is offered latched (transient local), depth 1.
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        assert qos["/cam/image"] == []
        (tf_qos,) = qos["/tf_static"]
        assert (tf_qos.durability.name, tf_qos.reliability.name, tf_qos.history.name, tf_qos.depth) == (
            "TRANSIENT_LOCAL", "RELIABLE", "KEEP_LAST", 1)
        assert {c.ext.serialization_format for c in reader.connections} == {"cdr"}
        for connection, _t, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.topic == "/cam/image":
                assert msg.data.reshape(24, 32, 3).shape == (24, 32, 3)
            if connection.topic == "/scene":
                assert len(msg.entities) == 2 and len(msg.entities[1].triangles[0].points) == 4


def test_exception_midway_leaves_a_valid_file(tmp_path):
    path = tmp_path / "broken.mcap"
    with pytest.raises(RuntimeError, match="boom"):
        with McapWriter(path) as writer:
            _write_frames(writer, 5, fail_at=2)
    messages = _read_all(path)
    assert {t: len(v) for t, v in messages.items()} == {"/cam/image": 2, "/cam/info": 2, "/tf_static": 2, "/scene": 2}
    with open(path, "rb") as f:
        summary = make_reader(f).get_summary()
        assert summary is not None and summary.statistics.message_count == 8


def test_foxglove_protobuf_channel_decodes_with_protobuf(tmp_path):
    pytest.importorskip("google.protobuf")
    import foxglove.messages as fm
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    path = tmp_path / "fox.mcap"
    update = fm.SceneUpdate(entities=[fm.SceneEntity(
        id="body_1", frame_id="cam",
        triangles=[fm.TriangleListPrimitive(points=[fm.Point3(x=1.0, y=2.0, z=3.0)] * 3, indices=[0, 1, 2],
                                            color=fm.Color(r=1.0, g=0.5, b=0.0, a=1.0))])])
    with McapWriter(path) as writer:
        writer.add_foxglove_channel("/fox/scene", fm.SceneUpdate)
        writer.write_foxglove("/fox/scene", update, STAMP0)
    with open(path, "rb") as f:
        reader = make_reader(f)
        (schema, channel, message), = list(reader.iter_messages())
    assert (schema.name, schema.encoding, channel.message_encoding) == ("foxglove.SceneUpdate", "protobuf", "protobuf")
    pool = descriptor_pool.DescriptorPool()
    for fd in descriptor_pb2.FileDescriptorSet.FromString(schema.data).file:
        pool.Add(fd)
    decoded = message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.name)).FromString(message.data)
    assert decoded.entities[0].id == "body_1"
    assert list(decoded.entities[0].triangles[0].indices) == [0, 1, 2]
    assert decoded.entities[0].triangles[0].points[1].z == 3.0


def test_misuse_gets_clear_errors(tmp_path):
    with McapWriter(tmp_path / "x.mcap") as writer:
        with pytest.raises(ValueError, match="unknown ROS 2 message type"):
            writer.add_ros2_channel("/a", "nope_msgs/msg/Nothing")
        writer.add_ros2_channel("/a", "std_msgs/msg/String")
        with pytest.raises(ValueError, match="already has a channel"):
            writer.add_ros2_channel("/a", "std_msgs/msg/String")
        with pytest.raises(ValueError, match="no channel"):
            writer.write("/b", b"", 0)
        with pytest.raises(ValueError, match=">= 0"):
            writer.write("/a", b"", -1)
    with pytest.raises(ValueError, match="closed"):
        writer.write("/a", b"", 0)
    with pytest.raises(FileExistsError):
        McapWriter(tmp_path / "x.mcap", overwrite=False)
    with pytest.raises(FileNotFoundError):
        McapWriter(tmp_path / "missing" / "x.mcap")
    with pytest.raises(ValueError, match="durability"):
        qos_profile_metadata("forever")
    with pytest.raises(ValueError, match="compression"):
        McapWriter(tmp_path / "y.mcap", compression="gzip")
