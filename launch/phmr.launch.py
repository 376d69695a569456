"""Start phmr_node: ``ros2 launch ros_phmr phmr.launch.py image:=/camera/image_raw``.

Every node parameter is also a launch argument (same name, see ros_phmr/ros/parameters.py);
config/phmr.yaml holds the defaults, and ``params_file:=`` swaps it. The lifecycle node is
configured and activated on start-up unless ``autostart:=false``.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.events import matches_action
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, TextSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

from ros_phmr.ros.parameters import PARAMETERS


def _camera_info_topic(image_topic: str) -> str:
    """The camera_info topic beside an image topic: /cam/image_raw -> /cam/camera_info."""
    return os.path.join(os.path.dirname(image_topic) or "/", "camera_info")


def _launch_node(context):
    image = LaunchConfiguration("image").perform(context)
    camera_info = LaunchConfiguration("camera_info").perform(context) or _camera_info_topic(image)
    overrides = {}
    for spec in PARAMETERS:
        if not spec.launch_argument:
            continue
        text = LaunchConfiguration(spec.name).perform(context)
        if text != "":  # empty = keep the params file's value
            # As a substitution, so that launch converts the text: "60" -> 60.0, "true" -> True.
            overrides[spec.name] = ParameterValue(TextSubstitution(text=text),
                                                  value_type=type(spec.default))
    node = LifecycleNode(
        package="ros_phmr", executable="phmr_node", name="phmr_node", namespace="",
        output="screen",
        parameters=[LaunchConfiguration("params_file").perform(context), overrides],
        remappings=[("image", image), ("image/compressed", image + "/compressed"),
                     ("camera_info", camera_info)],
    )
    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(node), transition_id=Transition.TRANSITION_CONFIGURE),
        condition=IfCondition(LaunchConfiguration("autostart")))
    # Activate once, after the first configure only: a later `ros2 lifecycle set deactivate`
    # (active -> inactive) or a manual re-configure must not be undone by the launch file.
    activate = RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
        handle_once=True,
        entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                              transition_id=Transition.TRANSITION_ACTIVATE))]),
        condition=IfCondition(LaunchConfiguration("autostart")))
    return [node, activate, configure]


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("ros_phmr"), "config", "phmr.yaml")
    arguments = [
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="Camera image topic (sensor_msgs/Image)."),
        DeclareLaunchArgument("camera_info", default_value="",
                              description="CameraInfo topic; empty = camera_info beside image."),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="YAML file with phmr_node parameters."),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="Configure and activate the lifecycle node."),
    ]
    arguments += [DeclareLaunchArgument(spec.name, default_value="",
                                        description=f"{spec.description} (empty = params_file)")
                  for spec in PARAMETERS if spec.launch_argument]
    return LaunchDescription(arguments + [OpaqueFunction(function=_launch_node)])
