"""ROS 2 definitions of the ``foxglove_msgs`` scene types, for CDR recordings.

Why CDR and not Foxglove's protobuf encoding for scene channels: ``ros2 bag play`` refuses a
recording whose topics mix serialisation formats ("All topics must have the same serialization
format"), so a bag that should both play in ROS and open in Foxglove carries every topic in CDR.
Foxglove reads ``foxglove_msgs/msg/SceneUpdate`` natively (the same schema as its protobuf
``foxglove.SceneUpdate``); ``ros2 bag play`` publishes it where the ``foxglove_msgs`` package is
installed and skips just that topic elsewhere.

The field lists follow the ``foxglove_msgs`` ROS 2 interface package (foxglove-sdk repository,
``ros/src/foxglove_msgs/ros2``); only the SceneUpdate closure is defined here.
"""
from __future__ import annotations

from rosbags.typesys import get_types_from_msg

FOXGLOVE_SCENE_MSGS = {
    "foxglove_msgs/msg/Color": """
float64 r
float64 g
float64 b
float64 a
""",
    "foxglove_msgs/msg/KeyValuePair": """
string key
string value
""",
    "foxglove_msgs/msg/ArrowPrimitive": """
geometry_msgs/Pose pose
float64 shaft_length
float64 shaft_diameter
float64 head_length
float64 head_diameter
foxglove_msgs/Color color
""",
    "foxglove_msgs/msg/CubePrimitive": """
geometry_msgs/Pose pose
geometry_msgs/Vector3 size
foxglove_msgs/Color color
""",
    "foxglove_msgs/msg/SpherePrimitive": """
geometry_msgs/Pose pose
geometry_msgs/Vector3 size
foxglove_msgs/Color color
""",
    "foxglove_msgs/msg/CylinderPrimitive": """
geometry_msgs/Pose pose
geometry_msgs/Vector3 size
float64 bottom_scale
float64 top_scale
foxglove_msgs/Color color
""",
    "foxglove_msgs/msg/LinePrimitive": """
uint8 LINE_STRIP=0
uint8 LINE_LOOP=1
uint8 LINE_LIST=2
uint8 type
geometry_msgs/Pose pose
float64 thickness
bool scale_invariant
geometry_msgs/Point[] points
foxglove_msgs/Color color
foxglove_msgs/Color[] colors
uint32[] indices
""",
    "foxglove_msgs/msg/TriangleListPrimitive": """
geometry_msgs/Pose pose
geometry_msgs/Point[] points
foxglove_msgs/Color color
foxglove_msgs/Color[] colors
uint32[] indices
""",
    "foxglove_msgs/msg/TextPrimitive": """
geometry_msgs/Pose pose
bool billboard
float64 font_size
bool scale_invariant
foxglove_msgs/Color color
string text
""",
    "foxglove_msgs/msg/ModelPrimitive": """
geometry_msgs/Pose pose
geometry_msgs/Vector3 scale
foxglove_msgs/Color color
bool override_color
string url
string media_type
uint8[] data
""",
    "foxglove_msgs/msg/SceneEntityDeletion": """
builtin_interfaces/Time timestamp
uint8 MATCHING_ID=0
uint8 ALL=1
uint8 type
string id
""",
    "foxglove_msgs/msg/SceneEntity": """
builtin_interfaces/Time timestamp
string frame_id
string id
builtin_interfaces/Duration lifetime
bool frame_locked
foxglove_msgs/KeyValuePair[] metadata
foxglove_msgs/ArrowPrimitive[] arrows
foxglove_msgs/CubePrimitive[] cubes
foxglove_msgs/SpherePrimitive[] spheres
foxglove_msgs/CylinderPrimitive[] cylinders
foxglove_msgs/LinePrimitive[] lines
foxglove_msgs/TriangleListPrimitive[] triangles
foxglove_msgs/TextPrimitive[] texts
foxglove_msgs/ModelPrimitive[] models
""",
    "foxglove_msgs/msg/SceneUpdate": """
foxglove_msgs/SceneEntityDeletion[] deletions
foxglove_msgs/SceneEntity[] entities
""",
}


# 2D overlays for Foxglove's Image panel (the classic field lists, without the later
# message_id / lineage / per-annotation metadata additions; Foxglove reads the embedded schema).
FOXGLOVE_IMAGE_ANNOTATION_MSGS = {
    "foxglove_msgs/msg/Point2": """
float64 x
float64 y
""",
    "foxglove_msgs/msg/CircleAnnotation": """
builtin_interfaces/Time timestamp
foxglove_msgs/Point2 position
float64 diameter
float64 thickness
foxglove_msgs/Color fill_color
foxglove_msgs/Color outline_color
""",
    "foxglove_msgs/msg/PointsAnnotation": """
builtin_interfaces/Time timestamp
uint8 UNKNOWN=0
uint8 POINTS=1
uint8 LINE_LOOP=2
uint8 LINE_STRIP=3
uint8 LINE_LIST=4
uint8 type
foxglove_msgs/Point2[] points
foxglove_msgs/Color outline_color
foxglove_msgs/Color[] outline_colors
foxglove_msgs/Color fill_color
float64 thickness
""",
    "foxglove_msgs/msg/TextAnnotation": """
builtin_interfaces/Time timestamp
foxglove_msgs/Point2 position
string text
float64 font_size
foxglove_msgs/Color text_color
foxglove_msgs/Color background_color
""",
    "foxglove_msgs/msg/ImageAnnotations": """
foxglove_msgs/CircleAnnotation[] circles
foxglove_msgs/PointsAnnotation[] points
foxglove_msgs/TextAnnotation[] texts
""",
}


def register_foxglove_scene_msgs(typestore) -> None:
    """Add the foxglove_msgs scene and image-annotation types to a rosbags ``typestore`` (idempotent)."""
    types = {}
    for name, text in {**FOXGLOVE_SCENE_MSGS, **FOXGLOVE_IMAGE_ANNOTATION_MSGS}.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
