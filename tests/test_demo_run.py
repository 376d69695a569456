"""run_demo end to end: the MCAP it writes is read back by the real readers (mcap + mcap-ros2-support,
rosbags AnyReader), holds exactly one image / camera_info / ground-truth / estimate message per
frame, matches the scene it was rendered from, and stays readable when the run is interrupted."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rosbags.highlevel import AnyReader

import ros_phmr.demo as demo
from offline_inputs import reader_typestore, shared_estimator
from ros_phmr.synthetic import SceneConfig, SyntheticScene

CONFIG = SceneConfig(width=160, height=120)
ESTIMATE_TOPICS = {"/phmr/meshes", "/phmr/interactions", "/phmr/annotations", demo.ESTIMATE_SCENE_TOPIC}
TOPICS = {demo.IMAGE_TOPIC, demo.CAMERA_INFO_TOPIC, demo.TF_STATIC_TOPIC, demo.GROUND_TRUTH_SCENE_TOPIC} | ESTIMATE_TOPICS
LATCHED = {"/phmr/mesh_topology": 1}


@pytest.fixture(scope="module")
def synthetic_cache():
    return demo.synthetic_model_path()


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo.mcap"
    summary = demo.run_demo(frames=3, out=out, seed=1, progress=False, config=CONFIG, model=shared_estimator())
    return out, summary


def _decoded(path):
    out = {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _s, channel, message, msg in reader.iter_decoded_messages():
            out.setdefault(channel.topic, []).append((message.log_time, msg))
    return out


def test_summary_reports_what_was_written(recording):
    out, summary = recording
    assert summary.path == out.resolve() and summary.frames == 3 and summary.synthetic
    assert summary.topics == {**{t: 3 for t in TOPICS}, **LATCHED}
    assert summary.estimates_model == demo.describe_model(shared_estimator().pipeline.config)
    assert summary.estimates_model in summary.describe()
    assert summary.duration_s == pytest.approx(2 / CONFIG.fps)
    assert summary.size_bytes == out.stat().st_size
    assert "SYNTHETIC" in summary.body_model and "SYNTHETIC" in summary.describe()


def test_mcap_reads_back_with_mcap_ros2(recording, synthetic_cache):
    from ros_phmr.body import BodyModel

    out, _ = recording
    messages = _decoded(out)
    assert {t: len(v) for t, v in messages.items()} == {**{t: 3 for t in TOPICS}, **LATCHED}
    scene = SyntheticScene(BodyModel.from_file(synthetic_cache), CONFIG, seed=1)
    for i in range(3):
        frame = scene.frame(i)
        t_img, img = messages[demo.IMAGE_TOPIC][i]
        assert t_img == frame.stamp_ns
        assert (img.width, img.height, img.encoding, img.header.frame_id) == (160, 120, "rgb8", demo.CAMERA_FRAME)
        pixels = np.frombuffer(bytes(img.data), np.uint8).reshape(img.height, img.width, 3)
        assert np.array_equal(pixels, frame.image)
        _, info = messages[demo.CAMERA_INFO_TOPIC][i]
        assert np.allclose(np.reshape(info.k, (3, 3)), frame.K) and (info.width, info.height) == (160, 120)
        _, update = messages[demo.GROUND_TRUTH_SCENE_TOPIC][i]
        assert len(update.entities) == CONFIG.num_people
        for body_id, entity in enumerate(update.entities):
            assert entity.frame_id == demo.CAMERA_FRAME and entity.id == f"ground_truth_{body_id}"
            tri = entity.triangles[0]
            assert len(tri.points) == 10475 and len(tri.indices) == 3 * 20908
            points = np.array([[p.x, p.y, p.z] for p in tri.points])
            assert np.allclose(points, frame.vertices[body_id], atol=1e-6)
        _, meshes = messages["/phmr/meshes"][i]
        _, estimated = messages[demo.ESTIMATE_SCENE_TOPIC][i]
        assert 1 <= len(meshes.meshes) == len(estimated.entities) <= 2      # tiny config: max 2 people
        assert meshes.header.frame_id == demo.CAMERA_FRAME and np.allclose(np.reshape(meshes.k, (3, 3)), frame.K)
        # Estimates and ground truth are drawn in different colours.
        assert {(e.triangles[0].color.r, e.triangles[0].color.a) for e in estimated.entities}.isdisjoint(
            {(e.triangles[0].color.r, e.triangles[0].color.a) for e in update.entities})
        _, tf = messages[demo.TF_STATIC_TOPIC][i]
        assert (tf.transforms[0].header.frame_id, tf.transforms[0].child_frame_id) == (demo.WORLD_FRAME, demo.CAMERA_FRAME)
    with open(out, "rb") as f:
        metadata = {m.name: m.metadata for m in make_reader(f).iter_metadata()}
    assert metadata["ros_phmr_demo"]["body_model"] == demo.SYNTHETIC_LABEL
    assert metadata["ros_phmr_demo"]["estimates_model"] == demo.describe_model(shared_estimator().pipeline.config)


def test_mcap_reads_back_with_rosbags(recording):
    out, _ = recording
    with AnyReader([Path(out)], default_typestore=reader_typestore()) as reader:
        assert {c.topic: c.msgcount for c in reader.connections} == {**{t: 3 for t in TOPICS}, **LATCHED}
        assert {c.ext.serialization_format for c in reader.connections} == {"cdr"}   # ros2 bag play needs one format
        for connection, _t, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            if connection.topic == demo.IMAGE_TOPIC:
                assert msg.data.reshape(msg.height, msg.width, 3).shape == (120, 160, 3)
            elif connection.topic == demo.GROUND_TRUTH_SCENE_TOPIC:
                assert len(msg.entities) == CONFIG.num_people
            elif connection.topic == "/phmr/meshes":
                assert all(m.joints_3d.shape == (127 * 3,) for m in msg.meshes)


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interrupted_demo_leaves_a_valid_file(tmp_path, monkeypatch, error):
    real_frame = SyntheticScene.frame

    def failing_frame(self, index):
        if index == 2:
            raise error("stop")
        return real_frame(self, index)

    monkeypatch.setattr(SyntheticScene, "frame", failing_frame)
    out = tmp_path / "cut.mcap"
    with pytest.raises(error):
        demo.run_demo(frames=5, out=out, progress=False, config=CONFIG, model=shared_estimator())
    messages = _decoded(out)
    assert {t: len(v) for t, v in messages.items()} == {**{t: 2 for t in TOPICS}, **LATCHED}


def test_preview_png(tmp_path):
    path = demo.render_preview_png(tmp_path / "preview.png", frame_index=10, width=160, height=120)
    picture = cv2.imread(str(path))
    assert picture.shape == (120, 320, 3)
    left, right = picture[:, :160], picture[:, 160:]
    assert not np.array_equal(left, right)                           # overlay changed the right half


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="frames"):
        demo.run_demo(frames=0, out=tmp_path / "x.mcap", progress=False)
    with pytest.raises(FileNotFoundError, match="folder"):
        demo.run_demo(frames=1, out=tmp_path / "missing" / "x.mcap", progress=False)
    with pytest.raises(FileNotFoundError, match="SMPL-X"):
        demo.run_demo(frames=1, out=tmp_path / "x.mcap", smplx_path=tmp_path / "nope.npz", progress=False)
