"""phmr_node over a real ROS 2 graph: runs where rclpy and ros_phmr_msgs are built, skips elsewhere.

Starts the node in-process with tiny random-weight assets, drives its lifecycle, publishes 20
images + camera info + a text prompt, and checks what comes back: at most 20 HumanMeshArray
messages whose stamps are among the published ones, one InteractionArray and one MarkerArray
per processed image, the latched topology, diagnostics. Then bad input on every topic (counted
drops, the node keeps processing) and the lifecycle transitions.
"""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (needs a ROS 2 install)")
msgs = pytest.importorskip("ros_phmr_msgs.msg",
                           reason="ros_phmr_msgs is not built (colcon build the msg/ package)")
for _module in ("vision_msgs.msg", "hri_msgs.msg", "visualization_msgs.msg",
                "diagnostic_msgs.msg", "tf2_ros"):  # what phmr_node imports besides rclpy
    pytest.importorskip(_module, reason=f"{_module} is missing from this ROS 2 install "
                                        "(package.xml lists what phmr_node needs)")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from hri_msgs.msg import IdsList  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from ros_phmr_msgs.srv import SetTextPrompt  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from ros_phmr.assets import write_assets  # noqa: E402

W, H, FRAMES = 160, 120, 20
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Graph:
    """The node under test, a client node with publishers and recording subscriptions."""

    def __init__(self, node, client):
        self.node, self.client = node, client
        self.received = {"meshes": [], "topology": [], "interactions": [], "markers": [],
                         "diagnostics": [], "tracked": [], "tf": [], "refined": []}
        subs = [(msgs.HumanMeshArray, "/phmr_node/meshes", "meshes", RELIABLE),
                (msgs.MeshTopology, "/phmr_node/mesh_topology", "topology", LATCHED),
                (msgs.InteractionArray, "/phmr_node/interactions", "interactions", RELIABLE),
                (MarkerArray, "/phmr_node/markers", "markers", RELIABLE),
                (DiagnosticArray, "/diagnostics", "diagnostics", 10),
                (IdsList, "/humans/bodies/tracked", "tracked", RELIABLE),
                (TFMessage, "/tf", "tf", 100),
                (msgs.HumanMeshArray, "/phmr_node/meshes_refined", "refined", RELIABLE)]
        for cls, topic, key, qos in subs:
            client.create_subscription(cls, topic, self.received[key].append, qos)
        pub = client.create_publisher
        self.image = pub(Image, "image", RELIABLE)
        self.info = pub(CameraInfo, "camera_info", RELIABLE)
        self.text = pub(msgs.TextPrompt, "/phmr_node/prompts/text", RELIABLE)
        self.boxes = pub(Detection2DArray, "/phmr_node/prompts/boxes", RELIABLE)
        self.masks = pub(msgs.MaskPrompt, "/phmr_node/prompts/masks", RELIABLE)
        self.pairs = pub(msgs.InteractionPrompt, "/phmr_node/prompts/interaction", RELIABLE)
        self.contacts = pub(msgs.ContactConstraintArray, "/phmr_node/prompts/contacts", RELIABLE)
        self._change = client.create_client(ChangeState, "/phmr_node/change_state")
        self._get = client.create_client(GetState, "/phmr_node/get_state")
        self.set_text = client.create_client(SetTextPrompt, "/phmr_node/set_text_prompt")

    def call(self, service, request):
        assert service.wait_for_service(timeout_sec=10.0), service.srv_name
        future = service.call_async(request)
        assert self.wait_for(future.done, timeout=30.0), f"{service.srv_name} timed out"
        return future.result()

    def transition(self, transition_id: int) -> str:
        """Ask for a lifecycle transition as `ros2 lifecycle set` does; the state reached."""
        request = ChangeState.Request()
        request.transition.id = transition_id
        assert self.call(self._change, request).success, f"transition {transition_id} failed"
        return self.call(self._get, GetState.Request()).current_state.label

    def wait_for(self, condition, timeout=60.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    def drops(self) -> dict:
        """Latest diagnostics drop counters: kind -> count."""
        for array in reversed(self.received["diagnostics"]):
            for status in array.status:
                if status.name.startswith("phmr_node"):
                    return {kv.key[len("drops/"):]: int(kv.value) for kv in status.values
                            if kv.key.startswith("drops/")}
        return {}


def image_msg(sec, nanosec, rng=None, encoding="rgb8", width=W, height=H, step=None):
    rng = rng or np.random.default_rng(0)
    img = Image(height=height, width=width, encoding=encoding,
                step=width * 3 if step is None else step)
    img.data = (rng.random((height, width, 3)) * 255).astype(np.uint8).tobytes()
    img.header.stamp.sec, img.header.stamp.nanosec = sec, nanosec
    img.header.frame_id = "camera_optical_frame"
    return img


def camera_info(header, fx=200.0):
    info = CameraInfo(height=H, width=W, header=header)
    info.k = [fx, 0.0, W / 2, 0.0, fx, H / 2, 0.0, 0.0, 1.0]
    return info


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    from ros_phmr.ros.node import PhmrNode

    paths = write_assets(tmp_path_factory.mktemp("node_assets"), size="tiny", seed=0)
    rclpy.init()
    node = PhmrNode(parameter_overrides=[  # read-only parameters: set at construction
        Parameter("profile", value="prompthmr+multihmr"),
        Parameter("prompthmr_checkpoint", value=str(paths["PromptHMR checkpoint"])),
        Parameter("multihmr_checkpoint", value=str(paths["Multi-HMR checkpoint"])),
        Parameter("smplx_model", value=str(paths["synthetic SMPL-X model"])),
        Parameter("resolution", value=224),
        Parameter("device", value="cpu"),
        Parameter("image_reliability", value="reliable"),
        Parameter("publish_markers", value=True),
        Parameter("diagnostics_period_s", value=0.2),
    ])
    client = rclpy.create_node("phmr_test_client")
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    g = Graph(node, client)
    assert g.transition(Transition.TRANSITION_CONFIGURE) == "inactive"
    assert g.transition(Transition.TRANSITION_ACTIVATE) == "active"
    time.sleep(1.0)  # discovery
    yield g
    executor.shutdown()
    node.close()
    node.destroy_node()
    client.destroy_node()
    rclpy.shutdown()


def test_images_in_meshes_out(graph):
    got = graph.received
    text = msgs.TextPrompt(person_id=3, text="tall muscular man")
    text.header.stamp.sec = 100
    graph.text.publish(text)
    rng = np.random.default_rng(0)
    graph.info.publish(camera_info(image_msg(100, 0).header))  # before the first image
    time.sleep(0.3)
    stamps = set()
    for i in range(FRAMES):
        img = image_msg(100, i * 1000, rng)
        graph.info.publish(camera_info(img.header))
        graph.image.publish(img)
        stamps.add((100, i * 1000))
        time.sleep(0.05)

    assert graph.wait_for(lambda: got["meshes"] and got["topology"] and got["diagnostics"])
    time.sleep(3.0)  # the frame in flight
    meshes = got["meshes"]
    assert 1 <= len(meshes) <= FRAMES
    for m in meshes:
        assert (m.header.stamp.sec, m.header.stamp.nanosec) in stamps
        assert m.header.frame_id == "camera_optical_frame" and not m.default_intrinsics
        assert (m.image_width, m.image_height) == (W, H) and m.k[0] == 200.0
        for person in m.meshes:
            assert len(person.vertices) == 10475 * 3 and len(person.joints_3d) % 3 == 0
    mesh_stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in meshes]
    assert [(a.header.stamp.sec, a.header.stamp.nanosec)
            for a in got["interactions"]] == mesh_stamps
    for array in got["interactions"]:
        for pair in array.interactions:  # default interaction_max_distance 0.5 m
            assert pair.person_a < pair.person_b
            assert pair.in_contact or pair.prompted or pair.min_distance <= 0.5
    assert len(got["markers"]) == len(meshes)
    tracked = {(t.header.stamp.sec, t.header.stamp.nanosec): sorted(t.ids) for t in got["tracked"]}
    for m in meshes:  # REP-155 list and TF frames name the same bodies as the meshes
        body_ids = sorted(p.body_id for p in m.meshes)
        assert tracked[(m.header.stamp.sec, m.header.stamp.nanosec)] == body_ids
        assert all(b == f"b{p.track_id}" for b, p in zip([p.body_id for p in m.meshes], m.meshes))
    frames = {t.child_frame_id for tf in got["tf"] for t in tf.transforms}
    assert frames == {f"body_{p.body_id}" for m in meshes for p in m.meshes}
    for markers, m in zip(got["markers"], meshes):
        assert markers.markers[0].action == 3  # DELETEALL, then one LINE_LIST per person
        assert [k.type for k in markers.markers[1:]] == [5] * len(m.meshes)
    topology = got["topology"][0]
    assert topology.vertex_count == 10475 and len(topology.faces) == 20908 * 3
    keys = {kv.key for d in got["diagnostics"] for s in d.status for kv in s.values}
    assert {"input_rate_hz", "processed_rate_hz", "frames_dropped", "frames_received"} <= keys
    ids = sorted({p.track_id for m in meshes for p in m.meshes})
    pairs = sum(len(a.interactions) for a in got["interactions"])
    print(f"\nphmr_node: {FRAMES} images in, {len(meshes)} HumanMeshArray out "
          f"({sum(len(m.meshes) for m in meshes)} people, track ids {ids}), "
          f"{len(got['interactions'])} InteractionArray ({pairs} pairs), "
          f"{len(got['markers'])} MarkerArray, {len(got['diagnostics'])} DiagnosticArray")


def test_bad_input_is_counted_and_the_node_keeps_running(graph):
    got = graph.received
    rng = np.random.default_rng(1)
    # images that cannot be decoded: unknown encoding, short step, zero size
    graph.image.publish(image_msg(200, 1, rng, encoding="rgb77"))
    time.sleep(0.5)
    graph.image.publish(image_msg(200, 2, rng, step=W))
    time.sleep(0.5)
    zero = Image(height=0, width=0, encoding="rgb8", step=0)
    graph.image.publish(zero)
    time.sleep(0.5)
    # prompts that cannot be used: a box outside the image, a mask of another size, a mask
    # label without a person id, an empty text, an interaction pair of unknown people
    boxes = Detection2DArray()
    boxes.header.stamp.sec = 200
    det = Detection2D(id="5")
    det.bbox.center.position.x, det.bbox.center.position.y = 5000.0, 5000.0
    det.bbox.size_x = det.bbox.size_y = 10.0
    boxes.detections = [det]
    graph.boxes.publish(boxes)
    mask = msgs.MaskPrompt(labels=[1], person_ids=[6])
    mask.header.stamp.sec = 200
    mask.mask = Image(height=H // 2, width=W // 2, encoding="mono8", step=W // 2)
    label = np.zeros((H // 2, W // 2), np.uint8)
    label[5:20, 5:20], label[30:40, 30:40] = 1, 9
    mask.mask.data = label.tobytes()
    graph.masks.publish(mask)
    empty_text = msgs.TextPrompt(person_id=4, text="   ")
    empty_text.header.stamp.sec = 200
    graph.text.publish(empty_text)
    pairs = msgs.InteractionPrompt(pairs=[40, 41])
    pairs.header.stamp.sec = 200
    graph.pairs.publish(pairs)
    bad = graph.call(graph.set_text, SetTextPrompt.Request(person_id=-2, text="man in red"))
    assert not bad.success and "text_id_invalid" in bad.message
    ok = graph.call(graph.set_text, SetTextPrompt.Request(person_id=2, text="man in red"))
    assert ok.success, ok.message
    # camera info with NaN focal, then a good image
    good = image_msg(200, 10, rng)
    nan_info = camera_info(good.header, fx=float("nan"))
    graph.info.publish(nan_info)
    time.sleep(0.3)
    before = len(got["meshes"])
    graph.image.publish(good)
    assert graph.wait_for(lambda: len(got["meshes"]) > before)
    expected = {"image_invalid", "camera_info_invalid", "box_outside_image", "mask_wrong_size",
                "mask_label_unknown", "text_empty", "interaction_id_unknown",
                "text_id_invalid"}
    assert graph.wait_for(lambda: expected <= set(graph.drops()), timeout=10), graph.drops()
    drops = graph.drops()
    assert drops["image_invalid"] >= 3
    assert got["meshes"][-1].header.stamp.nanosec == 10
    assert got["meshes"][-1].default_intrinsics  # NaN K replaced by the default focal
    print(f"\nbad input drop counters: {drops}")

    graph.info.publish(camera_info(good.header))  # healthy again
    before = len(got["meshes"])
    graph.image.publish(image_msg(201, 0, rng))
    assert graph.wait_for(lambda: len(got["meshes"]) > before)
    assert not got["meshes"][-1].default_intrinsics


def test_contact_constraints_give_refined_meshes(graph):
    got = graph.received
    still = image_msg(400, 0, np.random.default_rng(7))  # the same picture: tracks persist
    graph.info.publish(camera_info(still.header))
    for i in range(4):
        still.header.stamp.nanosec = i
        before = len(got["meshes"])
        graph.image.publish(still)
        assert graph.wait_for(lambda: len(got["meshes"]) > before)
    ids = sorted(p.track_id for p in got["meshes"][-1].meshes)
    assert len(ids) >= 2, f"the random detector found {len(ids)} tracked people"
    contacts = msgs.ContactConstraintArray(num_samples=1)
    contacts.header.stamp.sec = 400
    contacts.constraints = [msgs.ContactConstraint(person_a=ids[0], person_b=ids[1],
                                                   sample_index=0, regions_a=["hand"],
                                                   regions_b=["head/chest"])]
    graph.contacts.publish(contacts)
    time.sleep(0.5)
    still.header.stamp.nanosec = 10
    graph.image.publish(still)
    assert graph.wait_for(lambda: got["refined"], timeout=120)
    refined = got["refined"][-1]
    assert (refined.header.stamp.sec, refined.header.stamp.nanosec) == (400, 10)
    plain = next(m for m in got["meshes"] if m.header.stamp.nanosec == 10
                 and m.header.stamp.sec == 400)
    assert sorted(p.track_id for p in refined.meshes) == sorted(p.track_id for p in plain.meshes)
    before = {p.track_id: np.asarray(p.body_pose) for p in plain.meshes}
    moved = {p.track_id for p in refined.meshes
             if not np.array_equal(np.asarray(p.body_pose), before[p.track_id])}
    assert moved and moved <= {ids[0], ids[1]}  # only the constrained pair is re-posed
    assert graph.wait_for(lambda: "refinement/completed" in {
        kv.key for s in got["diagnostics"][-1].status for kv in s.values})
    print(f"\ncontact refinement of ids {ids[:2]}: {len(got['refined'])} ~/meshes_refined")


def test_unavailable_transition_is_refused_and_the_node_lives_on(graph):
    request = ChangeState.Request()
    request.transition.id = Transition.TRANSITION_CONFIGURE       # already configured and active
    assert not graph.call(graph._change, request).success
    assert graph.call(graph._get, GetState.Request()).current_state.label == "active"
    before = len(graph.received["meshes"])
    graph.info.publish(camera_info(image_msg(500, 0).header))
    graph.image.publish(image_msg(500, 0))
    assert graph.wait_for(lambda: len(graph.received["meshes"]) > before)   # still processing


def test_lifecycle_deactivate_cleanup_and_back(graph):
    node, got = graph.node, graph.received
    assert graph.transition(Transition.TRANSITION_DEACTIVATE) == "inactive"
    time.sleep(0.5)
    before = len(got["meshes"])
    graph.image.publish(image_msg(300, 0))
    time.sleep(2.0)
    assert len(got["meshes"]) == before  # inactive: no subscription, nothing published
    assert graph.transition(Transition.TRANSITION_CLEANUP) == "unconfigured"
    assert node._pipeline is None  # models released
    topologies = len(got["topology"])
    assert graph.transition(Transition.TRANSITION_CONFIGURE) == "inactive"
    assert graph.transition(Transition.TRANSITION_ACTIVATE) == "active"
    assert graph.wait_for(lambda: len(got["topology"]) > topologies)  # published again
    time.sleep(1.0)
    graph.info.publish(camera_info(image_msg(301, 0).header))
    graph.image.publish(image_msg(301, 0))
    assert graph.wait_for(lambda: len(got["meshes"]) > before)
    assert got["meshes"][-1].header.stamp.sec == 301
