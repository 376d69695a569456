"""Message builders: field layouts checked against independent computations (quaternion rotation,
CameraInfo matrices), and CDR round trips through rosbags."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ros_phmr.io.mcap_writer import ros2_typestore
from ros_phmr.io.ros2_messages import (camera_info_message, image_message, stamp_from_ns,
                                       transform_message)


@pytest.fixture(scope="module")
def ts():
    return ros2_typestore()


def _quat_rotate(q, v):
    """Rotate v by unit quaternion q = (x, y, z, w) with the Hamilton product, written out."""
    x, y, z, w = q
    u = np.array([x, y, z])
    return v + 2.0 * np.cross(u, np.cross(u, v) + w * v)


def test_transform_quaternion_rotates_like_the_matrix(ts):
    R = Rotation.from_euler("xyz", [100.0, -20.0, 35.0], degrees=True).as_matrix()
    msg = transform_message(ts, "world", "cam", R, np.array([1.0, 2.0, 3.0]), 5)
    t = msg.transforms[0].transform
    q = np.array([t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w])
    assert np.linalg.norm(q) == pytest.approx(1.0) and q[3] >= 0
    for v in np.eye(3):
        assert np.allclose(_quat_rotate(q, v), R @ v)
    data = ts.serialize_cdr(msg, "tf2_msgs/msg/TFMessage")
    back = ts.deserialize_cdr(data, "tf2_msgs/msg/TFMessage")
    assert back.transforms[0].child_frame_id == "cam" and back.transforms[0].header.frame_id == "world"


def test_stamps_split_into_sec_and_nanosec(ts):
    stamp = stamp_from_ns(ts, 1_700_000_001_000_000_007)
    assert (stamp.sec, stamp.nanosec) == (1_700_000_001, 7)
    with pytest.raises(ValueError):
        stamp_from_ns(ts, -1)


def test_image_and_camera_info_layout(ts):
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    img = ts.deserialize_cdr(ts.serialize_cdr(image_message(ts, rgb, 10, "cam"), "sensor_msgs/msg/Image"),
                             "sensor_msgs/msg/Image")
    assert (img.height, img.width, img.step, img.encoding, img.is_bigendian) == (5, 7, 21, "rgb8", 0)
    assert np.array_equal(img.data.reshape(5, 7, 3), rgb)
    K = np.array([[300.0, 0.0, 3.5], [0.0, 310.0, 2.5], [0.0, 0.0, 1.0]])
    info = camera_info_message(ts, K, 7, 5, 10, "cam")
    assert np.array_equal(info.k, K.reshape(-1))
    assert np.array_equal(info.p, np.hstack([K, np.zeros((3, 1))]).reshape(-1))
    assert np.array_equal(info.r, np.eye(3).reshape(-1)) and np.array_equal(info.d, np.zeros(5))
    with pytest.raises(ValueError, match="uint8"):
        image_message(ts, rgb.astype(np.float32), 0, "cam")
    with pytest.raises(ValueError, match="K"):
        camera_info_message(ts, np.eye(4), 7, 5, 0, "cam")
