"""Offline processing: rosbag2 / video / image-folder inputs -> an MCAP of images, ros_phmr_msgs
(ROS 2 CDR) and the Foxglove scene (``ros-phmr process``)."""
