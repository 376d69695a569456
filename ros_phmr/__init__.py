"""ros_phmr: live, metric, multi-person, promptable SMPL-X human meshes.

Everything under this package except ``ros_phmr.ros`` is plain Python + PyTorch and imports
nothing from ROS: the node, the offline processor and the CLI all call the same library.
"""
__version__ = "0.1.0"
