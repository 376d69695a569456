"""ROS 2 side of ros_phmr: the rclpy node (imported only by its entry point) and the
rclpy-free conversion between library results and message fields."""
