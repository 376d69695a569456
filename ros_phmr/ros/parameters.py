"""The node's parameters: one table that the node, the launch files and config/phmr.yaml share.

Kept free of rclpy so that tests can check that the three agree, and so that the launch files
can offer one launch argument per parameter without repeating the list.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: object  # bool | int | float | str; its type is the parameter's type
    description: str
    choices: tuple = ()
    min_value: float | None = None
    max_value: float | None = None
    launch_argument: bool = True  # offered as a launch argument of phmr.launch.py

    def check(self, value) -> None:
        """ValueError when ``value`` is of the wrong type or outside the allowed set/range."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"parameter {self.name!r} must be {expected.__name__}, "
                             f"got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"parameter {self.name!r} must be one of {list(self.choices)}, "
                             f"got {value!r}")
        if self.min_value is not None and value < self.min_value:
            raise ValueError(f"parameter {self.name!r} must be >= {self.min_value}, got {value}")
        if self.max_value is not None and value > self.max_value:
            raise ValueError(f"parameter {self.name!r} must be <= {self.max_value}, got {value}")


PARAMETERS: tuple[ParamSpec, ...] = (
    # model
    ParamSpec("profile", "prompthmr+multihmr",
              "Model profile: Multi-HMR detector feeding the PromptHMR decoder, PromptHMR on "
              "prompts only, or Multi-HMR alone.",
              choices=("prompthmr+multihmr", "prompthmr", "multihmr")),
    ParamSpec("prompthmr_checkpoint", "", "Path of the PromptHMR checkpoint.ckpt or of a "
              "converted ros_phmr checkpoint; empty = none."),
    ParamSpec("multihmr_checkpoint", "", "Path of the Multi-HMR .pt checkpoint or of a "
              "converted ros_phmr checkpoint; empty = none."),
    ParamSpec("smplx_model", "", "SMPL-X model file or folder (SMPLX_NEUTRAL.npz); empty = the "
              "generated synthetic body model (not SMPL-X: for demos and tests)."),
    ParamSpec("resolution", 0, "Square model input size in pixels (multiple of 14); 0 = the "
              "checkpoint's own.", min_value=0, max_value=1288),
    ParamSpec("backend", "torch", "Inference backend: torch, onnx (ONNX Runtime) or tensorrt "
              "(engines built once and cached in engine_dir); an engine backend that cannot run "
              "here falls back to torch with a warning.", choices=("torch", "onnx", "tensorrt")),
    ParamSpec("engine_dir", "", "Cache folder of exported ONNX graphs and TensorRT engines; "
              "empty = ~/.cache/ros_phmr."),
    ParamSpec("cuda_graphs", True, "torch backend on CUDA: capture each stage once and replay "
              "it (lowest latency)."),
    ParamSpec("compile", False, "torch backend: torch.compile the backbones and every stage "
              "around them (preprocessing, detector heads, decoder, SMPL-X); minutes of "
              "compiling at configure, faster frames."),
    ParamSpec("precision", "fp16", "Compute precision on GPU (CPU always runs fp32).",
              choices=("fp32", "fp16", "bf16")),
    ParamSpec("device", "auto", "torch device: auto (cuda when available), cpu, cuda, cuda:N."),
    # detection and people
    ParamSpec("detection_threshold", 0.3, "Detector score threshold for a person.",
              min_value=0.0, max_value=1.0),
    ParamSpec("max_people", 10, "Most people estimated per frame.", min_value=1,
              max_value=64),
    ParamSpec("default_focal", "diagonal", "Focal length when no CameraInfo has arrived: "
              "'diagonal' (f = image diagonal, PromptHMR) or 'fov' (default_fov_deg, "
              "Multi-HMR).", choices=("diagonal", "fov")),
    ParamSpec("default_fov_deg", 60.0, "Horizontal field of view for default_focal='fov'.",
              min_value=10.0, max_value=170.0),
    ParamSpec("prompt_expiry_s", 2.0, "How long a prompt keeps applying after its stamp.",
              min_value=0.01, max_value=3600.0),
    # people over time
    ParamSpec("tracking", True, "Give people stable ids across frames (track ids = REP-155 "
              "body ids b<id>); off: a new untracked estimate per frame."),
    ParamSpec("contact_threshold", 0.02, "Surface distance in metres under which two people's "
              "body regions count as in contact (~/interactions).", min_value=0.0,
              max_value=1.0),
    ParamSpec("contact_refinement", True, "Refine the poses of people named in a "
              "ContactConstraintArray (~/prompts/contacts) so that the named regions touch; "
              "results on ~/meshes_refined (a thread of its own; nothing runs without "
              "constraints)."),
    ParamSpec("interaction_max_distance", 0.5, "~/interactions lists the pairs closer than "
              "this (metres, surface to surface), in contact, or named in a prompt.",
              min_value=0.0, max_value=100.0),
    # inputs
    ParamSpec("image_compressed", False, "Subscribe to <image>/compressed "
              "(sensor_msgs/CompressedImage) instead of the raw image."),
    ParamSpec("image_reliability", "best_effort", "QoS reliability of the image and "
              "camera_info subscriptions: best_effort matches camera drivers' sensor-data "
              "QoS; reliable matches rosbag playback defaults.",
              choices=("best_effort", "reliable")),
    # outputs
    ParamSpec("publish_vertices", True, "Include the 10475 vertices per person in "
              "~/meshes (about 126 kB per person)."),
    ParamSpec("publish_markers", False, "Also publish ~/markers (visualization_msgs/"
              "MarkerArray) for RViz: one marker per person, coloured by id."),
    ParamSpec("marker_style", "skeleton", "~/markers content: 'skeleton' (LINE_LIST of the "
              "SMPL-X bones, cheap) or 'mesh' (TRIANGLE_LIST: ~1.5 MB and, in rclpy, ~0.4 s per "
              "person and frame, since Marker points are one Python object each).",
              choices=("skeleton", "mesh")),
    # built-in Foxglove server (foxglove-sdk), independent of any ROS bridge
    ParamSpec("foxglove_server", False, "Serve images, meshes, skeletons and interactions to "
              "Foxglove over WebSocket from the node itself (foxglove-sdk), no bridge needed."),
    ParamSpec("foxglove_host", "127.0.0.1", "Address the built-in Foxglove server binds to "
              "(0.0.0.0 = every interface)."),
    ParamSpec("foxglove_port", 8765, "Port of the built-in Foxglove server.", min_value=1,
              max_value=65535),
    ParamSpec("foxglove_scene_rate_hz", 10.0, "Most mesh updates per second sent to Foxglove "
              "(skeletons go with every frame).", min_value=0.1, max_value=120.0),
    ParamSpec("diagnostics_period_s", 1.0, "Period of /diagnostics updates.", min_value=0.1,
              max_value=60.0, launch_argument=False),
)

BY_NAME = {p.name: p for p in PARAMETERS}
