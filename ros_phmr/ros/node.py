"""phmr_node: camera images and prompts in; tracked SMPL-X meshes, interactions, REP-155
bodies, optional RViz markers and Foxglove output, and diagnostics out.

A lifecycle node (``ros2 lifecycle set /phmr_node configure|activate|deactivate|cleanup``):

- configure: validate parameters, load the models (seconds: checkpoints, CUDA context),
  start the optional Foxglove server and contact-refinement thread, create publishers;
- activate: publish the latched mesh topology, subscribe to the camera and prompt topics and
  start the worker;
- deactivate: unsubscribe and stop the worker; cleanup: release the models and GPU memory.

Threading: the image callback only drops the message into a one-frame slot (latest frame
wins; a replaced frame is counted as dropped) and returns. One worker thread decodes,
estimates and publishes. Prompt callbacks run in their own callback group so that they are
never stuck behind images. Contact refinement (when a ContactConstraintArray applies) runs on
its own thread and publishes on ~/meshes_refined. Everything that is not ROS plumbing lives in
the library (``ros_phmr.perception``: pipeline + tracker + contacts, ``ros_phmr.refine``,
``ros_phmr.prompts``, ``ros_phmr.ros.convert``, ``ros_phmr.viz``); this module only moves data
between it and rclpy.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TransformStamped
from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from ros_phmr_msgs.msg import (ContactConstraintArray, HumanMeshArray, InteractionArray,
                               InteractionPrompt, MaskPrompt, MeshTopology, TextPrompt)
from ros_phmr_msgs.srv import SetTextPrompt
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_ros import TransformBroadcaster
from vision_msgs.msg import Detection2DArray
from visualization_msgs.msg import MarkerArray

from ros_phmr.drops import Drop, DropCounter
from ros_phmr.frame_slot import FrameWorker, LatestFrameSlot
from ros_phmr.geometry.camera import default_intrinsics
from ros_phmr.imaging.encodings import decode_compressed_image, decode_raw_image
from ros_phmr.prompts import PromptStore
from ros_phmr.ros import convert, rep155
from ros_phmr.ros.markers import marker_array_fields
from ros_phmr.ros.msg_fields import stamp_to_ns, to_array_array
from ros_phmr.ros.parameters import PARAMETERS
from ros_phmr.stats import RateMeter, StageLatencies

# Camera drivers publish best effort; 'reliable' is for bag playback. Depth 1: latest wins.
_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT,
                "reliable": ReliabilityPolicy.RELIABLE}
# Outputs are reliable (libhri and most consumers subscribe with reliable defaults).
_OUTPUT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
# Prompts are rare and must not be lost.
_PROMPT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Topology is published once and latched for late subscribers.
_LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
_ROI_IDLE_S = 5.0  # forget a body's roi publisher after this long unseen
_CONTACT_TOLERANCE_NS = 50_000_000  # a contact constraint may apply this long before its stamp


class _ToRclpyLogger(logging.Handler):
    """Forwards a library's Python log records to the node's rclpy logger."""

    def __init__(self, logger) -> None:
        super().__init__()
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        self._logger.error(self.format(record))


def _descriptor(spec) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=spec.description, read_only=True)
    if spec.choices:
        desc.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.min_value is not None or spec.max_value is not None:
        lo = spec.min_value if spec.min_value is not None else -1e308
        hi = spec.max_value if spec.max_value is not None else 1e308
        if isinstance(spec.default, int) and not isinstance(spec.default, bool):
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                            to_value=float(hi), step=0.0)]
    return desc


def _element_class(type_name: str):
    """The message class of a sequence element type string ('sequence<pkg/Name>')."""
    inner = type_name[type_name.index("<") + 1:type_name.rindex(">")]
    package, name = inner.split("/")
    module = __import__(f"{package}.msg", fromlist=[name])
    return getattr(module, name)


def fill_message(msg, fields: Mapping):
    """Set ``msg``'s fields from a ``ros_phmr.ros.convert`` dict (nested dicts and lists)."""
    types = msg.get_fields_and_field_types()
    for name, value in fields.items():
        if isinstance(value, Mapping):
            fill_message(getattr(msg, name), value)
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            cls = _element_class(types[name])
            setattr(msg, name, [fill_message(cls(), v) for v in value])
        elif isinstance(value, np.ndarray) and types[name].startswith("sequence<"):
            setattr(msg, name, to_array_array(value))  # unbounded: array.array fast path
        else:
            setattr(msg, name, value)
    return msg


class PhmrNode(LifecycleNode):
    def __init__(self, **node_options) -> None:
        """``node_options`` go to rclpy's Node (e.g. ``parameter_overrides`` in tests: the
        parameters are read-only once declared)."""
        super().__init__("phmr_node", **node_options)
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        self._pipeline = None
        self._perception = None
        self._foxglove = None
        self._worker = None
        # Not _services/_subscriptions: rclpy's Node keeps its own entity lists under those names
        # (overwriting _services hides the lifecycle services from the executor).
        self._active_subscriptions = []
        self._active_services = []
        self._drops = DropCounter()
        self._input_rate = RateMeter()
        self._output_rate = RateMeter()
        self._latencies = StageLatencies()
        self._camera_info = None
        self._warned_no_camera_info = False
        self._roi_pubs: dict[str, tuple] = {}  # body id -> (publisher, last seen)
        self._refuse_unavailable_transitions()

    def _refuse_unavailable_transitions(self) -> None:
        """A change_state request for a transition the current state lacks (a repeated
        configure, a raw service call) makes rclpy raise inside the executor, which ends the
        process. Answer it with success=False and a warning instead, the state unchanged."""
        for service in self.services:
            if not service.srv_name.endswith("/change_state"):
                continue
            handle = service.callback

            def guarded(request, response, handle=handle):
                wanted = request.transition.id
                available = {t[0] for t in self._state_machine.available_transitions}
                if request.transition.label or wanted in available:
                    return handle(request, response)
                self.get_logger().warning(
                    f"refused lifecycle transition {wanted}: not available in state "
                    f"'{self._state_machine.current_state[1]}' (available: {sorted(available)})")
                response.success = False
                return response

            service.callback = guarded

    # -- lifecycle ------------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self._params = {s.name: self.get_parameter(s.name).value for s in PARAMETERS}
            for spec in PARAMETERS:
                spec.check(self._params[spec.name])
            from ros_phmr.perception import Perception, PerceptionConfig
            from ros_phmr.pipeline import Pipeline

            self._pipeline = Pipeline(self._pipeline_config())
            self._perception = Perception(self._pipeline, PerceptionConfig(
                tracking=self._params["tracking"], interactions=True, self_contact=False,
                contact_threshold=self._params["contact_threshold"]))
            self._faces = self._pipeline.faces  # (F, 3) uint32
            self._foxglove = self._start_foxglove()
            self._refiner = self._start_refiner()
        except (ValueError, FileNotFoundError, RuntimeError, OSError) as err:
            self.get_logger().error(f"configure failed: {err}")
            self._release_models()
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"models loaded: {self._pipeline.describe()}")
        self._prompts = PromptStore(expire_after_s=self._params["prompt_expiry_s"])
        self._contacts = None  # (stamp ns, [refine.ContactConstraint]) of the latest array
        self._pub_refined = (self.create_lifecycle_publisher(HumanMeshArray, "~/meshes_refined",
                                                             _OUTPUT_QOS)
                             if self._refiner is not None else None)
        self._pub_meshes = self.create_lifecycle_publisher(HumanMeshArray, "~/meshes",
                                                           _OUTPUT_QOS)
        self._pub_topology = self.create_lifecycle_publisher(MeshTopology, "~/mesh_topology",
                                                             _LATCHED_QOS)
        self._pub_tracked = self.create_lifecycle_publisher(IdsList, "/humans/bodies/tracked",
                                                            _OUTPUT_QOS)
        self._pub_interactions = self.create_lifecycle_publisher(
            InteractionArray, "~/interactions", _OUTPUT_QOS)
        self._pub_markers = (self.create_lifecycle_publisher(MarkerArray, "~/markers",
                                                             _OUTPUT_QOS)
                             if self._params["publish_markers"] else None)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._tf = TransformBroadcaster(self)
        self._diag_timer = self.create_timer(self._params["diagnostics_period_s"],
                                             self._publish_diagnostics)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # activates the lifecycle publishers
        self._publish_topology()
        image_qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                               reliability=_RELIABILITY[self._params["image_reliability"]])
        images = MutuallyExclusiveCallbackGroup()
        prompts = MutuallyExclusiveCallbackGroup()
        if self._params["image_compressed"]:
            self._active_subscriptions.append(self.create_subscription(
                CompressedImage, "image/compressed", self._on_image, image_qos,
                callback_group=images))
        else:
            self._active_subscriptions.append(self.create_subscription(
                Image, "image", self._on_image, image_qos, callback_group=images))
        self._active_subscriptions += [
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, image_qos,
                                     callback_group=images),
            self.create_subscription(Detection2DArray, "~/prompts/boxes", self._on_boxes,
                                     _PROMPT_QOS, callback_group=prompts),
            self.create_subscription(MaskPrompt, "~/prompts/masks", self._on_masks,
                                     _PROMPT_QOS, callback_group=prompts),
            self.create_subscription(TextPrompt, "~/prompts/text", self._on_text,
                                     _PROMPT_QOS, callback_group=prompts),
            self.create_subscription(InteractionPrompt, "~/prompts/interaction",
                                     self._on_interaction, _PROMPT_QOS, callback_group=prompts),
            self.create_subscription(ContactConstraintArray, "~/prompts/contacts",
                                     self._on_contacts, _PROMPT_QOS, callback_group=prompts),
        ]
        self._active_services.append(self.create_service(SetTextPrompt, "~/set_text_prompt",
                                                  self._on_set_text, callback_group=prompts))
        self._slot = LatestFrameSlot()
        self._worker = FrameWorker(self._slot, self._process, self._on_worker_error)
        self._worker.start()
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        for sub in self._active_subscriptions:
            self.destroy_subscription(sub)
        for srv in self._active_services:
            self.destroy_service(srv)
        self._active_subscriptions, self._active_services = [], []
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        return super().on_deactivate(state)

    def _pipeline_config(self):
        """PipelineConfig from the parameters; without checkpoints, the library's default model
        (the shipped demo checkpoint, trained on synthetic mannequins only, announced in the log)
        so that a bare ``ros2 launch ros_phmr phmr.launch.py`` runs end to end."""
        from ros_phmr.demo import DEMO_MODEL_LABEL, default_model_config
        from ros_phmr.pipeline import PipelineConfig

        params = self._params
        if params["prompthmr_checkpoint"] or params["multihmr_checkpoint"]:
            return PipelineConfig.from_parameters(params)
        if params["smplx_model"]:
            raise ValueError("smplx_model needs prompthmr_checkpoint/multihmr_checkpoint (the "
                             "default demo checkpoint was trained with its own synthetic body)")
        default = default_model_config(device=params["device"], log=None)
        self.get_logger().warning(
            f"model: {DEMO_MODEL_LABEL}; set the prompthmr_checkpoint/multihmr_checkpoint "
            "parameters for real checkpoints")
        return PipelineConfig.from_parameters({
            **params, "prompthmr_checkpoint": default.prompthmr_checkpoint,
            "multihmr_checkpoint": default.multihmr_checkpoint,
            "smplx_model": default.smplx_model,
            "resolution": params["resolution"] or default.resolution})

    def _start_foxglove(self):
        """The built-in Foxglove server when foxglove_server is set, else None."""
        if not self._params["foxglove_server"]:
            return None
        from ros_phmr.viz import FoxgloveLive

        live = FoxgloveLive(host=self._params["foxglove_host"],
                            port=self._params["foxglove_port"],
                            scene_rate_hz=self._params["foxglove_scene_rate_hz"],
                            name=self.get_name())
        self.get_logger().info(f"Foxglove server listening on {live.url}")
        return live

    def _start_refiner(self):
        """Contact-constrained refinement on its own thread when contact_refinement is set."""
        if not self._params["contact_refinement"]:
            return None
        from ros_phmr.refine import ContactRefiner, RefineWorker

        log = logging.getLogger(f"ros_phmr.ros.node.refine.{id(self)}")
        log.setLevel(logging.ERROR)  # refused constraints come back as drops: counted, logged once
        log.propagate = False
        log.addHandler(_ToRclpyLogger(self.get_logger()))
        return RefineWorker(ContactRefiner(self._pipeline.body), self._on_refined, logger=log)

    def _release_models(self) -> None:
        if getattr(self, "_refiner", None) is not None:
            self._refiner.close()
        self._refiner = None
        if getattr(self, "_foxglove", None) is not None:
            self._foxglove.close()
        self._foxglove = None
        self._perception = None
        if self._pipeline is not None:
            self._pipeline.close()  # frees GPU memory
        self._pipeline = None

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._release_models()
        self.destroy_timer(self._diag_timer)
        for pub in (self._pub_meshes, self._pub_topology, self._pub_tracked,
                    self._pub_interactions, self._pub_markers, self._pub_refined):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        for pub in [self._pub_diag, self._tf.pub_tf] + [p for p, _ in self._roi_pubs.values()]:
            self.destroy_publisher(pub)
        self._roi_pubs.clear()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def close(self) -> None:
        """Stop the worker and release the models and the Foxglove server (idempotent); for
        the shutdown transition and for a process ended by a signal."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self._release_models()

    # -- callbacks ------------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        self._input_rate.tick()
        self._slot.put((msg, time.perf_counter()))  # never blocks; a waiting frame is dropped

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_boxes(self, msg: Detection2DArray) -> None:
        result = convert.boxes_from_detection_array(msg)
        self._report(result.drops)
        stamp = stamp_to_ns(msg.header.stamp)
        for pid, box in result.boxes.items():
            self._report(self._prompts.set_box(pid, stamp, box, result.scores.get(pid, 1.0)))

    def _on_masks(self, msg: MaskPrompt) -> None:
        try:
            masks, drops = convert.person_masks_from_mask_prompt(msg)
        except ValueError as err:
            self._report([Drop("mask_prompt_invalid", str(err))])
            return
        self._report(drops)
        stamp = stamp_to_ns(msg.header.stamp)
        for pid, mask in masks.items():
            self._report(self._prompts.set_mask(pid, stamp, mask))

    def _set_text(self, person_id: int, stamp: int, text: str) -> list:
        drops = ([Drop("text_id_invalid", f"person id {person_id} < 0")] if person_id < 0
                 else self._prompts.set_text(person_id, stamp, text))
        self._report(drops)
        return drops

    def _on_text(self, msg: TextPrompt) -> None:
        self._set_text(*convert.text_prompt_from_msg(msg))

    def _on_set_text(self, request, response):
        drops = self._set_text(request.person_id, self.get_clock().now().nanoseconds,
                               request.text)
        response.success = not drops
        response.message = "; ".join(map(str, drops)) or "ok"
        return response

    def _on_interaction(self, msg: InteractionPrompt) -> None:
        pairs, drops = convert.interaction_pairs_from_msg(msg)
        self._report(drops)
        self._report(self._prompts.set_interaction(stamp_to_ns(msg.header.stamp), pairs))

    def _on_contacts(self, msg: ContactConstraintArray) -> None:
        if self._refiner is None:
            self._report([Drop("contact_refinement_off", "ContactConstraintArray ignored: "
                                                         "parameter contact_refinement is false")])
            return
        from ros_phmr.refine import ContactConstraint

        contacts, drops = convert.contact_constraints_from_msg(msg)
        self._report(drops)
        self._contacts = (stamp_to_ns(msg.header.stamp), [
            ContactConstraint(c.person_a, c.person_b, convert.contact_sample_pairs(c))
            for c in contacts])

    def _active_contacts(self, stamp_ns: int) -> list:
        """The latest contact constraints when they apply to a frame of this stamp."""
        if self._contacts is None:
            return []
        given, constraints = self._contacts
        expiry = int(self._params["prompt_expiry_s"] * 1e9)
        applies = given - _CONTACT_TOLERANCE_NS <= stamp_ns <= given + expiry
        return constraints if applies else []

    # -- worker ---------------------------------------------------------------------------

    def _process(self, item) -> None:
        msg, received = item
        t0 = time.perf_counter()
        try:
            if isinstance(msg, CompressedImage):
                image = decode_compressed_image(bytes(msg.data), msg.format)
            else:
                image = decode_raw_image(msg.data, msg.width, msg.height, msg.encoding,
                                         msg.step, bool(msg.is_bigendian))
        except ValueError as err:
            self._report([Drop("image_invalid", str(err))])
            return
        height, width = image.shape[:2]
        stamp = stamp_to_ns(msg.header.stamp)
        K, guessed = self._intrinsics(width, height)
        prompts, drops = self._prompts.for_frame(stamp, width, height)
        self._report(drops)
        decode_s = time.perf_counter() - t0
        warm_s = self._pipeline.ensure_warm(width, height, log=self.get_logger().info)
        if warm_s is not None:  # frames that came meanwhile were replaced in the slot
            self.get_logger().info(f"warmed up in {warm_s:.1f} s")
        result = self._perception.process(image, K, prompts, stamp_s=stamp / 1e9)
        self._report(result.drops)
        t1 = time.perf_counter()
        frame_id = msg.header.frame_id
        self._publish(stamp, frame_id, width, height, K, guessed, result.people,
                      result.interactions)
        if self._foxglove is not None:
            self._foxglove.publish(stamp, image, K, result.people, self._faces,
                                   result.interactions, frame_id=frame_id)
        contacts = self._active_contacts(stamp) if self._refiner is not None else []
        if contacts:  # refined people follow on ~/meshes_refined, stamped like this frame
            self._report(self._refiner.submit(result.people, contacts, K,
                                              (stamp, frame_id, width, height, K, guessed)))
        if warm_s is None:  # the warm-up is no frame latency
            self._latencies.add({"queue": t0 - received, "decode": decode_s, **result.timings,
                                 "publish": time.perf_counter() - t1,
                                 "total": time.perf_counter() - received})
        self._output_rate.tick()

    def _on_refined(self, people, frame) -> None:
        """Refinement results (on the refinement thread): the frame's people after
        contact-constrained refinement, published with that frame's header."""
        stamp, frame_id, width, height, K, guessed = frame
        self._pub_refined.publish(fill_message(HumanMeshArray(), convert.mesh_array_fields(
            stamp, frame_id, people, self._params["publish_vertices"], image_width=width,
            image_height=height, k=K, default_intrinsics=guessed)))

    def _intrinsics(self, width: int, height: int) -> tuple[np.ndarray, bool]:
        info = self._camera_info
        if info is not None:
            try:
                return convert.camera_info_to_intrinsics(info, width, height), False
            except ValueError as err:
                self._report([Drop("camera_info_invalid", f"{err}; using the default focal")])
        elif not self._warned_no_camera_info:
            self._warned_no_camera_info = True
            self.get_logger().warning(
                "no CameraInfo received on 'camera_info'; using the default focal "
                f"({self._params['default_focal']}) until one arrives")
        return default_intrinsics(width, height, self._params["default_focal"],
                                  self._params["default_fov_deg"]), True

    def _publish(self, stamp, frame_id, width, height, K, guessed, people,
                 interactions) -> None:
        fields = convert.mesh_array_fields(stamp, frame_id, people,
                                           self._params["publish_vertices"],
                                           image_width=width, image_height=height, k=K,
                                           default_intrinsics=guessed)
        self._pub_meshes.publish(fill_message(HumanMeshArray(), fields))
        self._pub_interactions.publish(fill_message(
            InteractionArray(), convert.interaction_estimates_array_fields(
                stamp, frame_id, interactions, self._params["interaction_max_distance"])))
        if self._pub_markers is not None:
            self._pub_markers.publish(fill_message(MarkerArray(), marker_array_fields(
                stamp, frame_id, people, self._params["marker_style"], self._faces)))
        self._pub_tracked.publish(fill_message(
            IdsList(), rep155.ids_list_fields(stamp, frame_id, [p.track_id for p in people])))
        now = time.monotonic()
        transforms = []
        for p in people:
            body_id = rep155.body_id_for_track(p.track_id)
            if not body_id:
                continue
            self._roi_publisher(body_id, now).publish(fill_message(
                NormalizedRegionOfInterest2D(),
                rep155.roi_fields(stamp, frame_id, p.box_xyxy, width, height, p.score)))
            transforms.append(self._body_transform(msg_stamp=fields["header"]["stamp"],
                                                   frame_id=frame_id, body_id=body_id, person=p))
        if transforms:
            self._tf.sendTransform(transforms)
        self._forget_idle_rois(now)

    def _body_transform(self, msg_stamp, frame_id, body_id, person) -> TransformStamped:
        """TF body_<id>: at the pelvis joint, oriented like the SMPL-X root."""
        t = TransformStamped()
        fill_message(t.header, {"stamp": msg_stamp, "frame_id": frame_id})
        t.child_frame_id = f"body_{body_id}"
        x, y, z = (float(v) for v in person.joints_3d[0])
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = x, y, z
        qx, qy, qz, qw = Rotation.from_rotvec(person.global_orient.astype(np.float64)).as_quat()
        t.transform.rotation.x, t.transform.rotation.y = float(qx), float(qy)
        t.transform.rotation.z, t.transform.rotation.w = float(qz), float(qw)
        return t

    def _roi_publisher(self, body_id: str, now: float):
        pub, _ = self._roi_pubs.get(body_id, (None, 0.0))
        if pub is None:
            pub = self.create_publisher(NormalizedRegionOfInterest2D,
                                        f"/humans/bodies/{body_id}/roi", _OUTPUT_QOS)
        self._roi_pubs[body_id] = (pub, now)
        return pub

    def _forget_idle_rois(self, now: float) -> None:
        for body_id, (pub, seen) in list(self._roi_pubs.items()):
            if now - seen > _ROI_IDLE_S:
                self.destroy_publisher(pub)
                del self._roi_pubs[body_id]

    def _publish_topology(self) -> None:
        p = self._pipeline
        fields = convert.mesh_topology_fields(self.get_clock().now().nanoseconds, p.model_name,
                                              p.vertex_count, p.faces, p.joint_names,
                                              p.num_betas, p.num_expression, p.region_names)
        self._pub_topology.publish(fill_message(MeshTopology(), fields))

    # -- health ---------------------------------------------------------------------------

    def _report(self, drops) -> None:
        for drop in drops:
            if self._drops.record(drop):
                self.get_logger().warning(f"{drop} (logged once per kind; counted in "
                                          "/diagnostics)")

    def _on_worker_error(self, err: BaseException) -> None:
        self._report([Drop("frame_failed", f"{type(err).__name__}: {err}")])

    def _publish_diagnostics(self) -> None:
        slot = getattr(self, "_slot", None)
        values = {
            "input_rate_hz": f"{self._input_rate.rate():.2f}",
            "processed_rate_hz": f"{self._output_rate.rate():.2f}",
            "frames_received": str(slot.received if slot else 0),
            "frames_dropped": str(slot.dropped if slot else 0),
            "camera_info": "received" if self._camera_info is not None else "missing",
        }
        refiner = getattr(self, "_refiner", None)
        if refiner is not None:
            for key, count in sorted(refiner.counts.items()):
                values[f"refinement/{key}"] = str(count)
        for kind, count in sorted(self._drops.counts().items()):
            values[f"drops/{kind}"] = str(count)
        for stage, pct in sorted(self._latencies.percentiles_ms().items()):
            for q, ms in pct.items():
                values[f"latency_ms/{stage}/{q}"] = f"{ms:.2f}"
        status = DiagnosticStatus(name="phmr_node: pipeline", hardware_id="phmr")
        healthy = self._worker is not None and self._worker.alive
        status.level = DiagnosticStatus.OK if healthy else DiagnosticStatus.WARN
        status.message = "processing" if healthy else "inactive"
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._pub_diag.publish(array)


def main(args=None) -> None:
    rclpy.init(args=args)
    node = PhmrNode()
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    try:
        executor.spin()
    except KeyboardInterrupt:
        pass
    finally:
        node.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
