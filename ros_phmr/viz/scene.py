"""Estimated bodies as a Foxglove ``SceneUpdate`` (foxglove-sdk protobuf messages).

Per person two entities, so that the cheap part can go out every frame and the heavy part at
a lower rate without one replacing the other (Foxglove replaces an entity by id):

- ``body_<id>``: joint spheres, skeleton lines and an id label (a few hundred bytes);
- ``mesh_<id>``: the indexed ``TriangleListPrimitive`` (10,475 vertices + 20,908 faces for SMPL-X;
  ~10 ms of Python per body to build, so only when a client listens, at a settable rate).

Interactions get one ``contact_<a>_<b>`` entity: a line between the two people's closest
joints, labelled with the minimal distance. Everything is in the camera optical frame.
Colours come from :func:`ros_phmr.io.foxglove_scene.body_color` (one per track id, ground truth
and estimates told apart), the same colours as the recorded CDR scenes.
"""
from __future__ import annotations

from typing import Iterable, Iterator, List, Sequence

import numpy as np
from foxglove.messages import (KeyValuePair, LinePrimitive, LinePrimitiveLineType, SceneEntity,
                               SceneUpdate, SpherePrimitive, TextPrimitive, TriangleListPrimitive,
                               Vector3)

from ..body.layout import NUM_BODY_JOINTS, PARENTS
from ..io.foxglove_scene import body_color
from ..people import PersonEstimate
from .messages import color, duration, points3, pose, timestamp

# Body skeleton: pelvis + 21 body joints (SMPL-X joints 0..21) and their bones.
SKELETON_JOINTS = NUM_BODY_JOINTS + 1
BONES = np.array([(j, PARENTS[j]) for j in range(1, SKELETON_JOINTS)], dtype=np.int64)   # (21, 2)
JOINT_SPHERE_M = 0.04
LINE_THICKNESS_M = 0.015
LABEL_FONT_SIZE = 0.12
CONTACT_COLOR = (1.0, 0.2, 0.2, 1.0)


def person_key(person: PersonEstimate, index: int) -> int:
    """Id a person is drawn and coloured by: its track id, or its index in the frame if untracked."""
    return person.track_id if person.track_id >= 0 else index


def entity_suffix(person: PersonEstimate, index: int) -> str:
    """Entity id part of a person: the track id, or ``u<index>`` so that an untracked person
    never takes a tracked person's entity."""
    return str(person.track_id) if person.track_id >= 0 else f"u{index}"


def person_label(person: PersonEstimate, index: int) -> str:
    return f"b{person.track_id}" if person.track_id >= 0 else f"#{index} (untracked)"


def _metadata(kind: str, person: PersonEstimate) -> list:
    return [KeyValuePair(key="kind", value=kind), KeyValuePair(key="track_id", value=str(person.track_id)),
            KeyValuePair(key="score", value=f"{person.score:.3f}")]


def skeleton_entity(person: PersonEstimate, index: int, stamp_ns: int, frame_id: str,
                    kind: str = "estimate", lifetime_ns: int = 0) -> SceneEntity:
    """``body_<id>``: joint spheres, bone lines and a label above the head."""
    key = person_key(person, index)
    rgba = color(body_color(kind, key))
    joints = np.asarray(person.joints_3d[:SKELETON_JOINTS], dtype=np.float64)        # (22, 3)
    spheres = [SpherePrimitive(pose=pose(p), size=Vector3(x=JOINT_SPHERE_M, y=JOINT_SPHERE_M, z=JOINT_SPHERE_M),
                               color=rgba) for p in joints]
    bones = LinePrimitive(type=LinePrimitiveLineType.LineList, pose=pose(), thickness=LINE_THICKNESS_M,
                          points=points3(joints[BONES.reshape(-1)]), color=rgba)
    head = joints[15] if len(joints) > 15 else joints.mean(axis=0)
    label = TextPrimitive(pose=pose(head + np.array([0.0, -0.25, 0.0])), billboard=True,
                          font_size=LABEL_FONT_SIZE, color=rgba,
                          text=f"{person_label(person, index)} {person.score:.2f}")
    return SceneEntity(timestamp=timestamp(stamp_ns), frame_id=frame_id,
                       id=f"{kind}_body_{entity_suffix(person, index)}",
                       lifetime=duration(lifetime_ns), metadata=_metadata(kind, person),
                       spheres=spheres, lines=[bones], texts=[label])


def mesh_entity_id(person: PersonEstimate, index: int, kind: str = "estimate") -> str:
    return f"{kind}_mesh_{entity_suffix(person, index)}"


def mesh_entity(person: PersonEstimate, index: int, faces: np.ndarray, stamp_ns: int, frame_id: str,
                kind: str = "estimate", lifetime_ns: int = 0) -> SceneEntity:
    """``mesh_<id>``: one indexed triangle list; raises ValueError if the person has no vertices."""
    if person.vertices is None:
        raise ValueError(f"person {person_label(person, index)} has no vertices (compute_vertices off?)")
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {faces.shape}")
    if faces.size and int(faces.max()) >= len(person.vertices):
        raise ValueError(f"face indices reach {int(faces.max())} but the mesh has {len(person.vertices)} vertices")
    key = person_key(person, index)
    triangles = TriangleListPrimitive(pose=pose(), points=points3(person.vertices),
                                      color=color(body_color(kind, key)),
                                      indices=faces.astype(np.int64).reshape(-1).tolist())
    return SceneEntity(timestamp=timestamp(stamp_ns), frame_id=frame_id, id=mesh_entity_id(person, index, kind),
                       lifetime=duration(lifetime_ns), metadata=_metadata(kind, person),
                       triangles=[triangles])


def closest_joints(a: PersonEstimate, b: PersonEstimate) -> tuple:
    """(point on a, point on b) of the closest pair of 3D joints; (J, J) distances, no loops."""
    ja = np.asarray(a.joints_3d, dtype=np.float64)                                     # (Ja, 3)
    jb = np.asarray(b.joints_3d, dtype=np.float64)                                     # (Jb, 3)
    d = np.linalg.norm(ja[:, None] - jb[None], axis=-1)                                # (Ja, Jb)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return ja[i], jb[j]


def interaction_endpoints(people: Sequence[PersonEstimate], interactions: Iterable) -> Iterator[tuple]:
    """(interaction, person a, person b, point on a, point on b) for each interaction whose two
    track ids are both among ``people``; the points are their closest joints (where a line goes)."""
    by_id = {p.track_id: p for p in people if p.track_id >= 0}
    for inter in interactions:
        a, b = by_id.get(int(inter.id_a)), by_id.get(int(inter.id_b))
        if a is not None and b is not None:
            yield (inter, a, b, *closest_joints(a, b))


def interaction_entities(people: Sequence[PersonEstimate], interactions: Iterable, stamp_ns: int,
                         frame_id: str, lifetime_ns: int = 0) -> List[SceneEntity]:
    """One ``contact_<a>_<b>`` line per interaction whose two track ids are both in ``people``.

    ``interactions``: objects with ``id_a``, ``id_b`` (track ids) and ``min_distance`` (m).
    """
    entities = []
    for inter, a, b, pa, pb in interaction_endpoints(people, interactions):
        rgba = color(CONTACT_COLOR)
        line = LinePrimitive(type=LinePrimitiveLineType.LineStrip, pose=pose(), thickness=0.02,
                             points=points3(np.stack([pa, pb])), color=rgba)
        text = TextPrimitive(pose=pose((pa + pb) / 2.0), billboard=True, font_size=LABEL_FONT_SIZE,
                             color=rgba, text=f"{float(inter.min_distance) * 100:.0f} cm")
        entities.append(SceneEntity(timestamp=timestamp(stamp_ns), frame_id=frame_id,
                                    id=f"contact_{a.track_id}_{b.track_id}", lifetime=duration(lifetime_ns),
                                    lines=[line], texts=[text]))
    return entities


def scene_update(people: Sequence[PersonEstimate], faces: np.ndarray | None, stamp_ns: int, frame_id: str,
                 *, kind: str = "estimate", interactions: Iterable = (), meshes: bool = True,
                 lifetime_ns: int = 0) -> SceneUpdate:
    """SceneUpdate with skeleton entities, mesh entities (if ``meshes`` and the people have
    vertices) and interaction lines. ``faces`` (F, 3) may be None when ``meshes`` is False."""
    entities = [skeleton_entity(p, i, stamp_ns, frame_id, kind, lifetime_ns) for i, p in enumerate(people)]
    if meshes:
        if faces is None:
            raise ValueError("meshes requested but no faces given")
        entities += [mesh_entity(p, i, faces, stamp_ns, frame_id, kind, lifetime_ns)
                     for i, p in enumerate(people) if p.vertices is not None]
    entities += interaction_entities(people, interactions, stamp_ns, frame_id, lifetime_ns)
    return SceneUpdate(entities=entities)
