"""Foxglove visualisation with foxglove-sdk: scene, image annotations, transforms, live server."""
from .image import camera_calibration, image_annotations, raw_image
from .live import (ANNOTATIONS_TOPIC, CALIBRATION_TOPIC, IMAGE_TOPIC, SCENE_TOPIC, TF_TOPIC,
                   FoxgloveLive)
from .scene import interaction_entities, mesh_entity, scene_update, skeleton_entity
from .transforms import body_frame, frame_transforms

__all__ = ["FoxgloveLive", "IMAGE_TOPIC", "CALIBRATION_TOPIC", "ANNOTATIONS_TOPIC", "TF_TOPIC", "SCENE_TOPIC",
           "scene_update", "skeleton_entity", "mesh_entity", "interaction_entities", "image_annotations",
           "raw_image", "camera_calibration", "frame_transforms", "body_frame"]
