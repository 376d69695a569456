"""Pipeline results into an MCAP as ROS 2 CDR: ros_phmr_msgs (meshes, topology, interactions),
the Foxglove scene (foxglove_msgs/SceneUpdate) and 2D overlays (foxglove_msgs/ImageAnnotations),
so ``ros2 bag play`` republishes them and Foxglove draws them. Shared by ``process`` and ``demo``.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from ..io.foxglove_scene import SCENE_UPDATE_TYPE, scene_update_cdr
from ..io.mcap_writer import McapWriter, qos_profile_metadata
from ..people import PersonEstimate
from ..ros.convert import (interaction_array_fields, interaction_fields, mesh_array_fields,
                           mesh_topology_fields)
from ..ros.typestore import MSG_PACKAGE, build_message, msg_definitions, register_definitions, ros_phmr_msg_dir
from ..viz.scene import interaction_endpoints, person_label
from .annotations import IMAGE_ANNOTATIONS_TYPE, image_annotations_message

MESHES_TOPIC = "/phmr/meshes"
TOPOLOGY_TOPIC = "/phmr/mesh_topology"
INTERACTIONS_TOPIC = "/phmr/interactions"
SCENE_TOPIC = "/phmr/scene"
ANNOTATIONS_TOPIC = "/phmr/annotations"
MESH_ARRAY_TYPE = f"{MSG_PACKAGE}/msg/HumanMeshArray"
TOPOLOGY_TYPE = f"{MSG_PACKAGE}/msg/MeshTopology"
INTERACTION_ARRAY_TYPE = f"{MSG_PACKAGE}/msg/InteractionArray"


def register_ros_phmr_msgs(writer: McapWriter) -> None:
    """Make the ros_phmr_msgs types known to the writer's typestore (idempotent)."""
    if MESH_ARRAY_TYPE not in writer.typestore.types:
        register_definitions(writer.typestore, msg_definitions(ros_phmr_msg_dir(), MSG_PACKAGE))


class ResultRecorder:
    """Adds the result channels to ``writer`` and writes one frame's results per call.

    ``faces`` (F, 3) and the other model facts go once into the latched topology message.
    ``include_vertices``: also put vertices into HumanMesh (the scene carries them anyway).
    """

    def __init__(self, writer: McapWriter, *, faces: np.ndarray, vertex_count: int, joint_names: Sequence[str],
                 num_betas: int, num_expression: int, model_name: str, region_names: Sequence[str] = (),
                 include_vertices: bool = False, scene_topic: str = SCENE_TOPIC, prefix: str = "") -> None:
        register_ros_phmr_msgs(writer)
        self.writer = writer
        self.faces = np.asarray(faces)
        self.vertex_count = int(vertex_count)
        self.include_vertices = include_vertices
        self.topics = {"meshes": prefix + MESHES_TOPIC, "topology": prefix + TOPOLOGY_TOPIC,
                       "interactions": prefix + INTERACTIONS_TOPIC, "scene": scene_topic,
                       "annotations": prefix + ANNOTATIONS_TOPIC}
        self._topology = mesh_topology_fields(0, model_name, vertex_count, self.faces, joint_names,
                                              num_betas, num_expression, region_names)
        writer.add_ros2_channel(self.topics["meshes"], MESH_ARRAY_TYPE)
        writer.add_ros2_channel(self.topics["topology"], TOPOLOGY_TYPE,
                                metadata=qos_profile_metadata("transient_local", depth=1))
        writer.add_ros2_channel(self.topics["interactions"], INTERACTION_ARRAY_TYPE)
        writer.add_ros2_channel(self.topics["scene"], SCENE_UPDATE_TYPE)
        writer.add_ros2_channel(self.topics["annotations"], IMAGE_ANNOTATIONS_TYPE)
        self._topology_written = False

    @classmethod
    def for_pipeline(cls, writer: McapWriter, pipeline, **kwargs) -> "ResultRecorder":
        return cls(writer, faces=pipeline.faces, vertex_count=pipeline.vertex_count,
                   joint_names=pipeline.joint_names, num_betas=pipeline.num_betas,
                   num_expression=pipeline.num_expression, model_name=pipeline.model_name,
                   region_names=pipeline.region_names, **kwargs)

    def write(self, stamp_ns: int, frame_id: str, people: Sequence[PersonEstimate], K: np.ndarray,
              width: int, height: int, *, interactions: Iterable = (), default_intrinsics: bool = False,
              kind: str = "estimate", lifetime_ns: int = 0) -> None:
        """HumanMeshArray, InteractionArray, SceneUpdate and ImageAnnotations of one image (all
        stamped ``stamp_ns``)."""
        ts, w = self.writer.typestore, self.writer
        if not self._topology_written:
            self._topology["header"]["stamp"] = {"sec": stamp_ns // 1_000_000_000, "nanosec": stamp_ns % 1_000_000_000}
            w.write_ros2(self.topics["topology"], build_message(ts, TOPOLOGY_TYPE, self._topology), stamp_ns)
            self._topology_written = True
        fields = mesh_array_fields(stamp_ns, frame_id, people, self.include_vertices, image_width=width,
                                   image_height=height, k=K, default_intrinsics=default_intrinsics)
        w.write_ros2(self.topics["meshes"], build_message(ts, MESH_ARRAY_TYPE, fields), stamp_ns)
        pairs = interaction_array_fields(stamp_ns, frame_id, self._interactions(people, interactions))
        w.write_ros2(self.topics["interactions"], build_message(ts, INTERACTION_ARRAY_TYPE, pairs), stamp_ns)
        meshed = [(i, p) for i, p in enumerate(people) if p.vertices is not None]
        ids = [p.track_id if p.track_id >= 0 else i for i, p in meshed]
        vertices = np.stack([p.vertices for _, p in meshed]) if meshed else np.zeros((0, self.vertex_count, 3))
        w.write_ros2(self.topics["annotations"], image_annotations_message(ts, people, stamp_ns, kind), stamp_ns)
        labels = [f"{person_label(p, i)} {p.score:.2f}" for i, p in meshed]
        w.write(self.topics["scene"], scene_update_cdr(ids, vertices, self.faces, stamp_ns, frame_id, kind=kind,
                                                       lifetime_ns=lifetime_ns, labels=labels), stamp_ns)

    @staticmethod
    def _interactions(people, interactions) -> list:
        out = []
        for inter, a, b, pa, pb in interaction_endpoints(people, interactions):
            pairs = list(getattr(inter, "region_pairs", ()))
            out.append(interaction_fields(
                a.track_id, b.track_id, float(inter.min_distance), pa, pb,
                in_contact=bool(pairs), regions_a=[r[0] for r in pairs], regions_b=[r[1] for r in pairs],
                region_distances=getattr(inter, "region_distances", [float(inter.min_distance)] * len(pairs)),
                prompted=bool(getattr(inter, "prompted", False))))
        return out
