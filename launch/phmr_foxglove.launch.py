"""phmr_node with Foxglove output: open ws://localhost:8765 in Foxglove.

``ros2 launch ros_phmr phmr_foxglove.launch.py image:=/camera/image_raw`` takes every argument
of phmr.launch.py and turns on the node's built-in Foxglove server (foxglove-sdk: image,
calibration, box annotations, body TF, skeletons every frame, meshes at
``foxglove_scene_rate_hz``; no extra ROS package). It binds to 127.0.0.1 unless
``foxglove_host:=0.0.0.0``. ``bridge:=true`` also starts foxglove_bridge (ROS package
foxglove_bridge) on ``bridge_port`` to show every other ROS topic.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    phmr_launch = os.path.join(get_package_share_directory("ros_phmr"), "launch",
                               "phmr.launch.py")
    return LaunchDescription([
        DeclareLaunchArgument("foxglove_host", default_value="127.0.0.1",
                              description="Address the node's Foxglove server binds to."),
        DeclareLaunchArgument("foxglove_port", default_value="8765",
                              description="Port of the node's Foxglove server."),
        DeclareLaunchArgument("bridge", default_value="false",
                              description="Also start foxglove_bridge for all ROS topics."),
        DeclareLaunchArgument("bridge_port", default_value="8766",
                              description="Port of foxglove_bridge (bridge:=true)."),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(phmr_launch),
            launch_arguments={"foxglove_server": "true",
                              "foxglove_host": LaunchConfiguration("foxglove_host"),
                              "foxglove_port": LaunchConfiguration("foxglove_port")}.items()),
        Node(package="foxglove_bridge", executable="foxglove_bridge", name="foxglove_bridge",
             output="screen", condition=IfCondition(LaunchConfiguration("bridge")),
             parameters=[{"address": LaunchConfiguration("foxglove_host"),
                          "port": ParameterValue(LaunchConfiguration("bridge_port"),
                                                 value_type=int)}]),
    ])
