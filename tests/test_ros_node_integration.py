"""phmr_node over a real ROS 2 graph: runs where rclpy and ros_phmr_msgs are built, skips elsewhere.

Starts the node in-process with tiny random-weight assets, drives its lifecycle, publishes 20
images + camera info + a text prompt, and checks what comes back: at most 20 HumanMeshArray
messages whose stamps are among the published ones, the latched topology, diagnostics.
"""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (needs a ROS 2 install)")
msgs = pytest.importorskip("ros_phmr_msgs.msg",
                           reason="ros_phmr_msgs is not built (colcon build the msg/ package)")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from ros_phmr.assets import write_assets  # noqa: E402

W, H, FRAMES = 160, 120, 20


@pytest.fixture(scope="module")
def running_node(tmp_path_factory):
    from ros_phmr.ros.node import PhmrNode

    assets = tmp_path_factory.mktemp("node_assets")
    write_assets(assets, size="tiny", seed=0)
    rclpy.init()
    node = PhmrNode()
    node.set_parameters([
        Parameter("profile", value="prompthmr+multihmr"),
        Parameter("prompthmr_checkpoint", value=str(assets / "prompthmr" / "checkpoint.ckpt")),
        Parameter("multihmr_checkpoint", value=str(assets / "multihmr" / "multiHMR_tiny.pt")),
        Parameter("smplx_model", value=str(assets)),
        Parameter("resolution", value=224),
        Parameter("device", value="cpu"),
        Parameter("image_reliability", value="reliable"),
    ])
    client = rclpy.create_node("phmr_test_client")
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    assert node.trigger_transition(Transition.TRANSITION_CONFIGURE) is not None
    node.trigger_transition(Transition.TRANSITION_ACTIVATE)
    yield node, client
    executor.shutdown()
    node.destroy_node()
    client.destroy_node()
    rclpy.shutdown()


def test_images_in_meshes_out(running_node):
    node, client = running_node
    reliable = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    meshes, topology, diagnostics = [], [], []
    client.create_subscription(msgs.HumanMeshArray, "/phmr_node/meshes", meshes.append, reliable)
    client.create_subscription(msgs.MeshTopology, "/phmr_node/mesh_topology", topology.append,
                               latched)
    client.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    pub_image = client.create_publisher(Image, "image", reliable)
    pub_info = client.create_publisher(CameraInfo, "camera_info", reliable)
    pub_text = client.create_publisher(msgs.TextPrompt, "/phmr_node/prompts/text", reliable)
    time.sleep(1.0)  # discovery

    text = msgs.TextPrompt(person_id=3, text="tall muscular man")
    text.header.stamp = client.get_clock().now().to_msg()
    pub_text.publish(text)
    rng = np.random.default_rng(0)
    stamps = set()
    for i in range(FRAMES):
        img = Image(height=H, width=W, encoding="rgb8", step=W * 3)
        img.data = (rng.random((H, W, 3)) * 255).astype(np.uint8).tobytes()
        img.header.stamp.sec, img.header.stamp.nanosec = 100, i * 1000
        img.header.frame_id = "camera_optical_frame"
        info = CameraInfo(height=H, width=W, header=img.header)
        info.k = [200.0, 0.0, W / 2, 0.0, 200.0, H / 2, 0.0, 0.0, 1.0]
        pub_info.publish(info)
        pub_image.publish(img)
        stamps.add((100, i * 1000))
        time.sleep(0.05)

    deadline = time.time() + 60
    while time.time() < deadline and (not meshes or not topology or not diagnostics):
        time.sleep(0.1)
    time.sleep(2.0)
    assert 1 <= len(meshes) <= FRAMES
    for m in meshes:
        assert (m.header.stamp.sec, m.header.stamp.nanosec) in stamps
        assert m.header.frame_id == "camera_optical_frame" and not m.default_intrinsics
    assert topology and topology[0].vertex_count == 10475
    assert len(topology[0].faces) == 20908 * 3
    keys = {kv.key for d in diagnostics for s in d.status for kv in s.values}
    assert {"input_rate_hz", "processed_rate_hz", "frames_dropped"} <= keys
