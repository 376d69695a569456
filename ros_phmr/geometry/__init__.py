"""Camera geometry: rotation conversions, intrinsics, letterboxing and projection.

Pixel convention everywhere (ROS / OpenCV): pixel centres at integer coordinates, origin at the
top-left pixel's centre, camera frame x right / y down / z forward (the ROS optical frame).
"""
from ros_phmr.geometry.camera import (
    default_intrinsics,
    intrinsics_from_camera_info,
    scale_intrinsics,
    validate_intrinsics,
)
from ros_phmr.geometry.letterbox import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Letterbox,
    letterbox_numpy,
    letterbox_torch,
)
from ros_phmr.geometry.projection import boxes_from_points, clip_boxes, project_points, validate_boxes
from ros_phmr.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    rot6d_to_matrix,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Letterbox",
    "axis_angle_to_matrix",
    "boxes_from_points",
    "clip_boxes",
    "default_intrinsics",
    "intrinsics_from_camera_info",
    "letterbox_numpy",
    "letterbox_torch",
    "matrix_to_axis_angle",
    "matrix_to_rot6d",
    "project_points",
    "rot6d_to_matrix",
    "scale_intrinsics",
    "validate_boxes",
    "validate_intrinsics",
]
