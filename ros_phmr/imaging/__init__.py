"""Image payload decoding (ROS encodings, compressed images, label masks) without cv_bridge."""
from ros_phmr.imaging.encodings import (
    LABEL_ENCODINGS,
    SUPPORTED_ENCODINGS,
    decode_compressed_image,
    decode_label_mask,
    decode_raw_image,
)

__all__ = [
    "LABEL_ENCODINGS",
    "SUPPORTED_ENCODINGS",
    "decode_compressed_image",
    "decode_label_mask",
    "decode_raw_image",
]
