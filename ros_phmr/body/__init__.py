"""SMPL-X body model: file loading and validation, a lean batched skinning of our own, contact
regions derived from the skinning weights, and a synthetic SMPL-X-format model for tests and
demos (the licensed SMPL-X files are never shipped)."""
from ros_phmr.body.model_file import create_smplx_layer, load_model_arrays, resolve_model_file
from ros_phmr.body.regions import BodyRegions
from ros_phmr.body.skinning import BodyModel, BodyOutput, pose_from_axis_angle
from ros_phmr.body.synthetic import (is_synthetic_model, synthetic_smplx_arrays,
                                     write_synthetic_smplx)

__all__ = [
    "BodyModel", "BodyOutput", "BodyRegions", "create_smplx_layer", "is_synthetic_model",
    "load_model_arrays",
    "pose_from_axis_angle", "resolve_model_file", "synthetic_smplx_arrays", "write_synthetic_smplx",
]
