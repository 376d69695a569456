"""phmr_node with its built-in Foxglove WebSocket server: open ws://localhost:8765 in Foxglove.

``ros2 launch ros_phmr phmr_foxglove.launch.py image:=/camera/image_raw`` takes the same
arguments as phmr.launch.py; this file only switches the server on (bound to 127.0.0.1 unless
``foxglove_host:=0.0.0.0``).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    phmr_launch = os.path.join(get_package_share_directory("ros_phmr"), "launch",
                               "phmr.launch.py")
    return LaunchDescription([
        DeclareLaunchArgument("foxglove_host", default_value="127.0.0.1",
                              description="Address the Foxglove server binds to."),
        DeclareLaunchArgument("foxglove_port", default_value="8765",
                              description="Port of the Foxglove server."),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(phmr_launch),
            launch_arguments={"foxglove_server": "true",
                              "foxglove_host": LaunchConfiguration("foxglove_host"),
                              "foxglove_port": LaunchConfiguration("foxglove_port")}.items()),
    ])
