"""Synthetic data: a seeded scene of walking, turning and waving mannequins with exact ground truth."""
from .camera_rig import CameraRig
from .scene import SceneConfig, SceneFrame, SyntheticScene

__all__ = ["CameraRig", "SceneConfig", "SceneFrame", "SyntheticScene"]
