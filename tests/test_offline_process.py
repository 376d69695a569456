"""``ros-phmr process`` on real inputs (rosbag2 MCAP/sqlite3 written with rosbags, an OpenCV video,
an image folder): the MCAP reads back with mcap-ros2-support and rosbags, one result message per
input frame; bad inputs fail clearly and leave no output; Ctrl-C leaves a valid MCAP."""
import os
import re
import signal
import threading
import time

import numpy as np
import pytest

from offline_inputs import (HEIGHT, WIDTH, read_back, shared_estimator, synthetic_frames, write_bag,
                            write_image_folder, write_video)
from ros_phmr.cli import main
from ros_phmr.offline.process import run_process
from terminal_signals import sigint_as_on_a_terminal  # noqa: F401  (fixture)

FRAMES = 3
RESULT_TOPICS = {"/phmr/meshes": "ros_phmr_msgs/msg/HumanMeshArray",
                 "/phmr/interactions": "ros_phmr_msgs/msg/InteractionArray",
                 "/phmr/scene": "foxglove_msgs/msg/SceneUpdate",
                 "/phmr/annotations": "foxglove_msgs/msg/ImageAnnotations"}


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames(FRAMES)


@pytest.fixture(scope="module")
def config():
    return shared_estimator()


def _check_results(out: dict, frames, *, frame_id: str, default_intrinsics: bool):
    for topic, msgtype in RESULT_TOPICS.items():
        assert out["counts"][topic] == len(frames), topic
        assert out["schemas"][topic] == (msgtype, "ros2msg", "cdr")
    assert out["counts"]["/phmr/mesh_topology"] == 1
    topology = out["rosbags"]["/phmr/mesh_topology"][0]
    assert topology.vertex_count == 10475 and len(topology.faces) == 3 * 20908
    assert all(enc == "cdr" for _, _, enc in out["schemas"].values())        # ros2 bag play needs one format
    for frame, arr, scene, ann in zip(frames, out["rosbags"]["/phmr/meshes"], out["rosbags"]["/phmr/scene"],
                                      out["rosbags"]["/phmr/annotations"]):
        assert arr.header.stamp.sec * 10**9 + arr.header.stamp.nanosec == frame.stamp_ns
        assert arr.header.frame_id == frame_id
        assert (arr.image_width, arr.image_height) == (WIDTH, HEIGHT)
        assert arr.default_intrinsics == default_intrinsics
        if not default_intrinsics:
            np.testing.assert_allclose(arr.k.reshape(3, 3), frame.K)
        assert len(arr.meshes) <= 2                        # max_people=2
        assert len(scene.entities) == len(arr.meshes)      # one mesh entity per body
        assert all(len(e.triangles[0].points) == 10475 for e in scene.entities)
        assert [e.texts[0].text.split()[0] for e in scene.entities] == [
            f"b{m.track_id}" if m.track_id >= 0 else f"#{i}" for i, m in enumerate(arr.meshes)]
        assert all(m.joints_3d.shape == (127 * 3,) for m in arr.meshes)
        assert len(ann.points) == 2 * len(arr.meshes) and len(ann.texts) == len(arr.meshes)   # box + skeleton
        for box, mesh in zip(ann.points[0::2], arr.meshes):
            x1, y1, x2, y2 = mesh.box_xyxy
            np.testing.assert_allclose([(p.x, p.y) for p in box.points], [(x1, y1), (x2, y1), (x2, y2), (x1, y2)])
    assert sum(len(a.meshes) for a in out["rosbags"]["/phmr/meshes"]) > 0      # random weights find someone
    # The same content through the other decoder.
    mcap_arr = out["mcap"]["/phmr/meshes"][0]
    np.testing.assert_array_equal(np.asarray(mcap_arr.meshes[0].joints_3d), out["rosbags"]["/phmr/meshes"][0].meshes[0].joints_3d)


@pytest.mark.parametrize("storage,compressed", [("mcap", False), ("sqlite3", True)])
def test_bag(tmp_path, frames, config, storage, compressed):
    bag = write_bag(tmp_path / "in_bag", frames, storage=storage, compressed=compressed)
    out_path = tmp_path / "out.mcap"
    summary = run_process(str(bag), out_path, config, progress=False)
    assert summary.frames == FRAMES and not summary.interrupted
    out = read_back(out_path)
    image_topic = "/cam/image_raw/compressed" if compressed else "/cam/image_raw"
    assert out["counts"][image_topic] == FRAMES and out["counts"]["/cam/camera_info"] == FRAMES
    assert "/chatter" not in out["counts"]
    first = out["rosbags"][image_topic][0]
    if not compressed:                                    # copied unchanged
        np.testing.assert_array_equal(first.data.reshape(HEIGHT, WIDTH, 3), frames[0].image)
    _check_results(out, frames, frame_id="cam_optical", default_intrinsics=False)


def test_bag_without_camera_info_uses_the_default_focal(tmp_path, frames, config):
    bag = write_bag(tmp_path / "in_bag", frames, with_info=False)
    out_path = tmp_path / "out.mcap"
    run_process(str(bag), out_path, config, progress=False)
    out = read_back(out_path)
    assert out["counts"]["/cam/image_raw"] == FRAMES and out["counts"]["/camera/camera_info"] == FRAMES
    diagonal = np.hypot(WIDTH, HEIGHT)
    for arr, info in zip(out["rosbags"]["/phmr/meshes"], out["rosbags"]["/camera/camera_info"]):
        assert arr.default_intrinsics
        assert arr.k[0] == pytest.approx(diagonal) and info.k[0] == pytest.approx(diagonal)
        assert info.header.frame_id == "cam_optical"


def test_video(tmp_path, frames, config):
    video = write_video(tmp_path / "in.avi", frames)
    out_path = tmp_path / "out.mcap"
    run_process(str(video), out_path, config, progress=False)
    out = read_back(out_path)
    assert out["counts"]["/camera/image_raw/compressed"] == FRAMES
    assert out["counts"]["/camera/camera_info"] == FRAMES
    frames_at_10hz = [type(f)(**{**f.__dict__, "stamp_ns": int(i * 1e8)}) for i, f in enumerate(frames)]
    _check_results(out, frames_at_10hz, frame_id="camera_optical_frame", default_intrinsics=True)


def test_image_folder(tmp_path, frames, config, capsys):
    folder = write_image_folder(tmp_path / "images", frames)
    out_path = tmp_path / "out.mcap"
    run_process(str(folder), out_path, config, fps=10)
    assert "frame/s" in capsys.readouterr().err            # tqdm progress with a rate
    out = read_back(out_path)
    assert out["counts"]["/camera/image_raw/compressed"] == FRAMES
    assert out["counts"]["/phmr/meshes"] == FRAMES
    info = out["rosbags"]["/camera/camera_info"][0]
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    stamps = [m.header.stamp.nanosec for m in out["rosbags"]["/phmr/meshes"]]
    assert stamps == [0, 100_000_000, 200_000_000]         # --fps 10


def test_default_model_is_the_labelled_demo_checkpoint(capsys):
    from ros_phmr.data import demo_checkpoint_path
    from ros_phmr.demo import DEMO_MODEL_LABEL, describe_model, model_config_from_options

    config = model_config_from_options(device="cpu")
    assert DEMO_MODEL_LABEL in capsys.readouterr().out
    assert config.prompthmr_checkpoint == config.multihmr_checkpoint == str(demo_checkpoint_path())
    assert describe_model(config) == DEMO_MODEL_LABEL


# ---- bad input: clear message, non-zero exit, no output file ----------------------------------

def _fails(tmp_path, capsys, args, message):
    out_path = tmp_path / "out.mcap"
    rc = main(["process", *map(str, args), "-o", str(out_path), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc != 0
    assert re.search(message, err), err
    assert not out_path.exists()


def test_bag_without_image_topics(tmp_path, frames, capsys):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    with Writer(tmp_path / "chat", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=ts)
        writer.write(conn, 1, ts.serialize_cdr(ts.types["std_msgs/msg/String"](data="x"), "std_msgs/msg/String"))
    _fails(tmp_path, capsys, [tmp_path / "chat"], r"no sensor_msgs/Image or CompressedImage topic.*/chatter")


def test_bag_with_several_image_topics_asks_for_one(tmp_path, frames, capsys):
    bag = write_bag(tmp_path / "two", frames[:1], extra_image_topic=True)
    _fails(tmp_path, capsys, [bag], r"several image topics.*--image-topic")
    _fails(tmp_path, capsys, [bag, "--image-topic", "/nope"], r"--image-topic /nope is not an image topic")


def test_unreadable_video(tmp_path, capsys):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"this is not a video" * 100)
    _fails(tmp_path, capsys, [video], r"broken\.mp4.*(cannot be opened|no readable frame)")


def test_corrupt_bag(tmp_path, frames, capsys):
    bag = write_bag(tmp_path / "good", frames[:1])
    corrupt = tmp_path / "corrupt.mcap"
    data = next(bag.glob("*.mcap")).read_bytes()
    corrupt.write_bytes(data[: len(data) // 3])
    _fails(tmp_path, capsys, [corrupt], r"cannot read bag .*corrupt\.mcap")


def test_bag_corrupt_mid_file(tmp_path, frames, capsys):
    """Damaged chunk data behind an intact index: either refused up front, or a finalised output
    with a PARTIAL warning, never a silent success."""
    bag = write_bag(tmp_path / "damaged", frames)
    path = next(bag.glob("*.mcap"))
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start:start + 200] = bytes(b ^ 0xFF for b in data[start:start + 200])
    path.write_bytes(bytes(data))
    out_path = tmp_path / "out.mcap"
    assert main(["process", str(bag), "-o", str(out_path), "--quiet", "--resolution", "112",
                 "--max-people", "2", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "corrupt" in err or "cannot read bag" in err, err
    if out_path.exists():
        assert "PARTIAL" in err
        read_back(out_path)                                # finalised: readable


def test_missing_inputs(tmp_path, capsys):
    _fails(tmp_path, capsys, [tmp_path / "nowhere"], r"input .*nowhere does not exist")
    (tmp_path / "empty").mkdir()
    _fails(tmp_path, capsys, [tmp_path / "empty"], r"holds no images")


def test_existing_output_is_not_replaced(tmp_path, frames, capsys):
    folder = write_image_folder(tmp_path / "images", frames[:1])
    out_path = tmp_path / "out.mcap"
    out_path.write_bytes(b"keep me")
    assert main(["process", str(folder), "-o", str(out_path)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert out_path.read_bytes() == b"keep me"


def test_ctrl_c_leaves_a_valid_mcap(tmp_path, config, capsys, sigint_as_on_a_terminal):
    """A real SIGINT while `process` runs on the endless synthetic source."""
    out_path = tmp_path / "out.mcap"

    def interrupt():
        deadline = time.monotonic() + 60
        while not out_path.exists() and time.monotonic() < deadline:     # writing has started
            time.sleep(0.05)
        time.sleep(2.0)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_process("synthetic", out_path, config, progress=False)
    assert "is a valid MCAP of the" in capsys.readouterr().err
    out = read_back(out_path)
    done = out["counts"].get("/phmr/meshes", 0)
    assert out["counts"].get("/camera/image_raw/compressed", 0) == done == out["counts"].get("/phmr/scene", 0)
