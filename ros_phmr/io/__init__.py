"""Recording: a generic MCAP writer (ROS 2 CDR and Foxglove channels) and message builders."""
from .mcap_writer import McapWriter, ros2_typestore

__all__ = ["McapWriter", "ros2_typestore"]
