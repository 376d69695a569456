"""Builders of standard ROS 2 messages (rosbags objects) from numpy data.

They take the typestore explicitly so the same code serves recordings and contract tests; the
returned objects serialise with ``typestore.serialize_cdr(msg, msg.__msgtype__)``.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def stamp_from_ns(typestore, stamp_ns: int):
    """builtin_interfaces/Time from integer nanoseconds (>= 0)."""
    stamp_ns = int(stamp_ns)
    if stamp_ns < 0:
        raise ValueError(f"stamp must be >= 0 ns, got {stamp_ns}")
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return typestore.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def duration_from_ns(typestore, duration_ns: int):
    """builtin_interfaces/Duration from integer nanoseconds (>= 0)."""
    sec, nanosec = divmod(int(duration_ns), 1_000_000_000)
    return typestore.types["builtin_interfaces/msg/Duration"](sec=sec, nanosec=nanosec)


def header(typestore, stamp_ns: int, frame_id: str):
    return typestore.types["std_msgs/msg/Header"](stamp=stamp_from_ns(typestore, stamp_ns), frame_id=frame_id)


def image_message(typestore, rgb: np.ndarray, stamp_ns: int, frame_id: str):
    """sensor_msgs/Image, encoding rgb8, from an (H, W, 3) uint8 RGB array."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"image must be a non-empty (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    return typestore.types["sensor_msgs/msg/Image"](
        header=header(typestore, stamp_ns, frame_id), height=height, width=width, encoding="rgb8",
        is_bigendian=0, step=3 * width, data=np.ascontiguousarray(rgb).reshape(-1))


def camera_info_message(typestore, K: np.ndarray, width: int, height: int, stamp_ns: int, frame_id: str):
    """sensor_msgs/CameraInfo of an undistorted pinhole camera (plumb_bob, zero distortion)."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be (3, 3), got {K.shape}")
    P = np.zeros((3, 4))
    P[:, :3] = K
    roi = typestore.types["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return typestore.types["sensor_msgs/msg/CameraInfo"](
        header=header(typestore, stamp_ns, frame_id), height=int(height), width=int(width),
        distortion_model="plumb_bob", d=np.zeros(5), k=K.reshape(-1), r=np.eye(3).reshape(-1),
        p=P.reshape(-1), binning_x=0, binning_y=0, roi=roi)


def transform_message(typestore, parent_frame: str, child_frame: str, rotation: np.ndarray,
                      translation: np.ndarray, stamp_ns: int):
    """tf2_msgs/TFMessage with one transform: pose of ``child_frame`` in ``parent_frame``
    (``rotation`` (3,3) maps child coordinates to parent coordinates, ``translation`` (3,) is the
    child origin in the parent)."""
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    if rotation.shape != (3, 3) or translation.shape != (3,):
        raise ValueError(f"rotation must be (3, 3) and translation (3,), got {rotation.shape}, {translation.shape}")
    qx, qy, qz, qw = Rotation.from_matrix(rotation).as_quat()
    if qw < 0:                                 # same rotation; the w >= 0 form reads better
        qx, qy, qz, qw = -qx, -qy, -qz, -qw
    types = typestore.types
    transform = types["geometry_msgs/msg/TransformStamped"](
        header=header(typestore, stamp_ns, parent_frame), child_frame_id=child_frame,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=translation[0], y=translation[1], z=translation[2]),
            rotation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)))
    return types["tf2_msgs/msg/TFMessage"](transforms=[transform])
