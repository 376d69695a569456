"""phmr_node plus foxglove_bridge: open ws://localhost:8765 in Foxglove and see the node's topics.

``ros2 launch ros_phmr phmr_foxglove.launch.py image:=/camera/image_raw`` takes every argument
of phmr.launch.py; the bridge binds to 127.0.0.1 unless ``foxglove_address:=0.0.0.0``.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    phmr_launch = os.path.join(get_package_share_directory("ros_phmr"), "launch",
                               "phmr.launch.py")
    return LaunchDescription([
        DeclareLaunchArgument("foxglove_address", default_value="127.0.0.1",
                              description="Address foxglove_bridge binds to."),
        DeclareLaunchArgument("foxglove_port", default_value="8765",
                              description="Port of foxglove_bridge."),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(phmr_launch)),
        Node(package="foxglove_bridge", executable="foxglove_bridge", name="foxglove_bridge",
             output="screen",
             parameters=[{"address": LaunchConfiguration("foxglove_address"),
                          "port": ParameterValue(LaunchConfiguration("foxglove_port"),
                                                 value_type=int)}]),
    ])
