"""Library results <-> ros_phmr_msgs / vision_msgs / sensor_msgs fields, without rclpy.

Outputs are field dicts (see :mod:`ros_phmr.ros.msg_fields`) the node turns into rclpy
messages and the bag writers into rosbags messages. Inputs may be rclpy messages, rosbags
messages or field dicts: fields are read by name only.

Error policy for inputs from other nodes: a message that cannot be read at all (wrong array
lengths, undecodable image) raises ValueError, which the node catches, logs and counts; a
single unusable item inside a usable message (a box with a non-numeric id, an unknown mask
label) is left out and reported as a :class:`~ros_phmr.drops.Drop` so the node can log each
kind once and count it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import numpy as np

from ros_phmr.drops import Drop
from ros_phmr.geometry.camera import intrinsics_from_camera_info
from ros_phmr.imaging.encodings import decode_label_mask
from ros_phmr.people import NUM_BODY_JOINTS, NUM_HAND_JOINTS, PersonEstimate
from ros_phmr.prompts import check_box
from ros_phmr.ros.msg_fields import get_field, header_fields, stamp_to_ns
from ros_phmr.ros.rep155 import body_id_for_track, parse_person_id

_F32 = np.float32
# HumanMesh fixed-length float arrays and their sizes (the .msg float32[N] fields).
_FIXED_LENGTHS = {
    "box_xyxy": 4, "global_orient": 3, "body_pose": NUM_BODY_JOINTS * 3,
    "left_hand_pose": NUM_HAND_JOINTS * 3, "right_hand_pose": NUM_HAND_JOINTS * 3,
    "jaw_pose": 3, "transl": 3,
}


def _flat(values, dtype=_F32) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=dtype).reshape(-1)


# ---- people -> HumanMesh / HumanMeshArray / MeshTopology ---------------------------------------

def person_to_msg_fields(p: PersonEstimate, include_vertices: bool,
                         header: Optional[dict] = None) -> dict:
    """HumanMesh fields of one person. Arrays are flat float32 views of ``p``'s arrays (no copy).

    ``header`` defaults to an empty one; :func:`mesh_array_fields` passes the image's.
    Raises ValueError when vertices are requested but ``p`` has none.
    """
    if include_vertices and p.vertices is None:
        raise ValueError(f"include_vertices is set but person {p.track_id} has no vertices")
    return {
        "header": header if header is not None else header_fields(0, ""),
        "track_id": p.track_id,
        "body_id": body_id_for_track(p.track_id),
        "score": p.score,
        "box_xyxy": _flat(p.box_xyxy),
        "prompt_id": p.prompt_id,
        "prompt_kinds": p.prompt_kinds,
        "global_orient": _flat(p.global_orient),
        "body_pose": _flat(p.body_pose),
        "left_hand_pose": _flat(p.left_hand_pose),
        "right_hand_pose": _flat(p.right_hand_pose),
        "jaw_pose": _flat(p.jaw_pose),
        "betas": _flat(p.betas),
        "expression": _flat(p.expression),
        "transl": _flat(p.transl),
        "joints_3d": _flat(p.joints_3d),
        "joints_2d": _flat(p.joints_2d),
        "vertices": _flat(p.vertices) if include_vertices else np.zeros(0, _F32),
    }


def _float_field(msg, name: str, multiple: int) -> np.ndarray:
    values = _flat(get_field(msg, name))
    expected = _FIXED_LENGTHS.get(name)
    if expected is not None and values.size != expected:
        raise ValueError(f"HumanMesh.{name} must have {expected} numbers, got {values.size}")
    if values.size % multiple:
        raise ValueError(f"HumanMesh.{name} length {values.size} is not a multiple of {multiple}")
    return values


def msg_fields_to_person(msg) -> PersonEstimate:
    """PersonEstimate from HumanMesh fields (dict or message); empty vertices -> None.

    Raises ValueError naming the field whose length is wrong.
    """
    joints_3d = _float_field(msg, "joints_3d", 3).reshape(-1, 3)
    joints_2d = _float_field(msg, "joints_2d", 2).reshape(-1, 2)
    vertices = _float_field(msg, "vertices", 3)
    return PersonEstimate(
        track_id=int(get_field(msg, "track_id")),
        score=float(get_field(msg, "score")),
        box_xyxy=_float_field(msg, "box_xyxy", 1),
        global_orient=_float_field(msg, "global_orient", 3),
        body_pose=_float_field(msg, "body_pose", 3).reshape(NUM_BODY_JOINTS, 3),
        left_hand_pose=_float_field(msg, "left_hand_pose", 3).reshape(NUM_HAND_JOINTS, 3),
        right_hand_pose=_float_field(msg, "right_hand_pose", 3).reshape(NUM_HAND_JOINTS, 3),
        jaw_pose=_float_field(msg, "jaw_pose", 3),
        betas=_float_field(msg, "betas", 1),
        expression=_float_field(msg, "expression", 1),
        transl=_float_field(msg, "transl", 3),
        joints_3d=joints_3d,
        joints_2d=joints_2d,
        vertices=vertices.reshape(-1, 3) if vertices.size else None,
        prompt_id=int(get_field(msg, "prompt_id")),
        prompt_kinds=int(get_field(msg, "prompt_kinds")),
    )


def mesh_array_fields(header_stamp_ns: int, frame_id: str, people: Sequence[PersonEstimate],
                      include_vertices: bool, *, image_width: int = 0, image_height: int = 0,
                      k=None, default_intrinsics: bool = False) -> dict:
    """HumanMeshArray fields for one image: its stamp and optical frame, every person.

    ``k``: the (3, 3) intrinsics the estimate used (zeros when not given);
    ``default_intrinsics``: True when k is a guess because no CameraInfo arrived.
    """
    header = header_fields(header_stamp_ns, frame_id)
    k_flat = np.zeros(9, np.float64) if k is None else _flat(k, np.float64)
    if k_flat.size != 9:
        raise ValueError(f"k must be a 3x3 matrix, got {k_flat.size} numbers")
    return {
        "header": header,
        "image_width": int(image_width),
        "image_height": int(image_height),
        "k": k_flat,
        "default_intrinsics": bool(default_intrinsics),
        "meshes": [person_to_msg_fields(p, include_vertices, header) for p in people],
    }


def mesh_topology_fields(stamp_ns: int, model_name: str, vertex_count: int, faces,
                         joint_names: Sequence[str], num_betas: int, num_expression: int,
                         region_names: Sequence[str] = ()) -> dict:
    """MeshTopology fields (latched): faces (F, 3) as flat uint32, joint and region names."""
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must have shape (F, 3), got {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= vertex_count):
        raise ValueError(f"face indices must lie in [0, {vertex_count}), got "
                         f"[{f.min()}, {f.max()}]")
    return {
        "header": header_fields(stamp_ns, ""),
        "model_name": str(model_name),
        "vertex_count": int(vertex_count),
        "faces": _flat(f, np.uint32),
        "joint_names": [str(n) for n in joint_names],
        "num_betas": int(num_betas),
        "num_expression": int(num_expression),
        "region_names": [str(n) for n in region_names],
    }


# ---- interactions -> Interaction / InteractionArray --------------------------------------------

def interaction_fields(person_a: int, person_b: int, min_distance: float, closest_a, closest_b,
                       *, in_contact: bool, regions_a: Sequence[str] = (),
                       regions_b: Sequence[str] = (), region_distances=(),
                       prompted: bool = False, refined: bool = False) -> dict:
    """Interaction fields; the pair is ordered person_a < person_b (sides swapped with it)."""
    if len(regions_a) != len(regions_b) or len(regions_a) != len(region_distances):
        raise ValueError(f"regions_a, regions_b and region_distances must have equal lengths, "
                         f"got {len(regions_a)}, {len(regions_b)}, {len(region_distances)}")
    if int(person_a) > int(person_b):
        person_a, person_b = person_b, person_a
        closest_a, closest_b = closest_b, closest_a
        regions_a, regions_b = regions_b, regions_a

    def point(xyz) -> dict:
        x, y, z = (float(v) for v in np.asarray(xyz, dtype=np.float64).reshape(3))
        return {"x": x, "y": y, "z": z}

    return {
        "person_a": int(person_a), "person_b": int(person_b),
        "min_distance": float(min_distance), "in_contact": bool(in_contact),
        "closest_a": point(closest_a), "closest_b": point(closest_b),
        "regions_a": [str(r) for r in regions_a], "regions_b": [str(r) for r in regions_b],
        "region_distances": _flat(region_distances),
        "prompted": bool(prompted), "refined": bool(refined),
    }


def interaction_estimate_fields(est) -> dict:
    """Interaction fields of a ``ros_phmr.interaction.InteractionEstimate`` (id_a, id_b,
    min_distance, region_pairs, prompted).

    The estimate has no closest points or per-region distances unless it carries
    ``closest_a``/``closest_b``/``region_distances`` attributes; missing ones are published as
    NaN (not measured), never as zeros that would read as the camera origin.
    """
    region_pairs = [(str(a), str(b)) for a, b in est.region_pairs]
    nan3 = (float("nan"),) * 3
    distances = getattr(est, "region_distances", None)
    if distances is None:
        distances = np.full(len(region_pairs), np.nan, _F32)
    return interaction_fields(
        est.id_a, est.id_b, est.min_distance,
        getattr(est, "closest_a", None) if getattr(est, "closest_a", None) is not None else nan3,
        getattr(est, "closest_b", None) if getattr(est, "closest_b", None) is not None else nan3,
        in_contact=bool(region_pairs),
        regions_a=[a for a, _ in region_pairs], regions_b=[b for _, b in region_pairs],
        region_distances=distances, prompted=bool(est.prompted),
        refined=bool(getattr(est, "refined", False)))


def interaction_estimates_array_fields(stamp_ns: int, frame_id: str, estimates,
                                       max_distance: float) -> dict:
    """InteractionArray fields of the pairs worth publishing: in contact, prompted, or closer
    than ``max_distance`` metres (the analysis measures every pair; far-apart pairs are noise
    to a listener and grow as N^2)."""
    kept = [interaction_estimate_fields(e) for e in estimates
            if e.prompted or e.region_pairs or e.min_distance <= max_distance]
    return interaction_array_fields(stamp_ns, frame_id, kept)


def interaction_array_fields(stamp_ns: int, frame_id: str, interactions: Sequence[dict]) -> dict:
    """InteractionArray fields from :func:`interaction_fields` results."""
    return {"header": header_fields(stamp_ns, frame_id), "interactions": list(interactions)}


# ---- sensor_msgs/CameraInfo -> K -------------------------------------------------------------

def camera_info_to_intrinsics(info, image_width: Optional[int] = None,
                              image_height: Optional[int] = None) -> np.ndarray:
    """(3, 3) float64 K for the published image from a CameraInfo (message or fields).

    CameraInfo's k describes the full-resolution sensor; a non-empty ``roi`` (crop) shifts the
    principal point and ``binning_x/y`` > 1 divides the scale, as image_geometry's pinhole
    model does. When the image size is given and differs from the result, K is rescaled (see
    :func:`ros_phmr.geometry.camera.intrinsics_from_camera_info`). Raises ValueError for an
    uncalibrated (all-zero) or otherwise invalid K.
    """
    k = _flat(get_field(info, "k"), np.float64)
    if k.size != 9:
        raise ValueError(f"CameraInfo.k must have 9 numbers, got {k.size}")
    if not np.any(k):
        raise ValueError("CameraInfo.k is all zeros: the camera is not calibrated "
                         "(the node falls back to default intrinsics)")
    width, height = int(get_field(info, "width")), int(get_field(info, "height"))
    K = k.reshape(3, 3).copy()
    roi = get_field(info, "roi")
    roi_w, roi_h = int(get_field(roi, "width")), int(get_field(roi, "height"))
    if roi_w and roi_h and (roi_w, roi_h) != (width, height):
        K[0, 2] -= int(get_field(roi, "x_offset"))
        K[1, 2] -= int(get_field(roi, "y_offset"))
        width, height = roi_w, roi_h
    bin_x = max(int(get_field(info, "binning_x")), 1)
    bin_y = max(int(get_field(info, "binning_y")), 1)
    if bin_x > 1 or bin_y > 1:
        K[0] /= bin_x
        K[1] /= bin_y
        width, height = width // bin_x, height // bin_y
    return intrinsics_from_camera_info(K.reshape(-1), width, height, image_width, image_height)


# ---- vision_msgs/Detection2DArray -> box prompts ----------------------------------------------

class DetectionBoxes(NamedTuple):
    """Box prompts by person id: (4,) float32 xyxy pixel boxes, scores in [0, 1], what was left out."""

    boxes: dict
    scores: dict
    drops: list


def _box_from_bbox(bbox) -> np.ndarray:
    """Axis-aligned xyxy box around a (possibly rotated) vision_msgs/BoundingBox2D."""
    center = get_field(bbox, "center")
    try:  # vision_msgs >= 4 (Humble): center.position.x; older releases: center.x
        position = get_field(center, "position")
    except ValueError:
        position = center
    cx, cy = float(get_field(position, "x")), float(get_field(position, "y"))
    theta = float(get_field(center, "theta"))
    sx, sy = float(get_field(bbox, "size_x")), float(get_field(bbox, "size_y"))
    c, s = abs(np.cos(theta)), abs(np.sin(theta))
    half_w, half_h = (c * sx + s * sy) / 2.0, (s * sx + c * sy) / 2.0
    return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dtype=np.float64)


def boxes_from_detection_array(msg, image_width: Optional[int] = None,
                               image_height: Optional[int] = None) -> DetectionBoxes:
    """Box prompts from a Detection2DArray whose ``Detection2D.id`` is the person id.

    Ids are decimal strings or REP-155 body ids ("7" or "b7"). A rotated box becomes the
    axis-aligned box around it. The score is the best ``results[].hypothesis.score`` (1.0 when
    there are no results). Left out, each with a Drop: detections without a usable id, repeated
    ids (the first wins), boxes with NaN/inf or non-positive size, and, when the image size is
    given, boxes outside the image (boxes partly outside are clipped, reported as
    ``box_clipped``).
    """
    boxes, scores, drops = {}, {}, []
    for index, det in enumerate(get_field(msg, "detections")):
        raw_id = get_field(det, "id")
        try:
            pid = parse_person_id(raw_id)
        except ValueError as exc:
            kind = "detection_id_missing" if not str(raw_id).strip() else "detection_id_invalid"
            drops.append(Drop(kind, f"detection {index}: {exc}"))
            continue
        if pid in boxes:
            drops.append(Drop("detection_id_duplicate",
                              f"detection {index}: id {raw_id!r} repeats person {pid}; first kept"))
            continue
        box = _box_from_bbox(get_field(det, "bbox"))
        if not np.all(np.isfinite(box)):
            drops.append(Drop("box_not_finite", f"id {pid}: box {box.tolist()} has NaN or inf"))
            continue
        if box[2] <= box[0] or box[3] <= box[1]:
            drops.append(Drop("box_empty", f"id {pid}: box size must be positive, got "
                                           f"{box[2] - box[0]:g}x{box[3] - box[1]:g}"))
            continue
        if image_width is not None and image_height is not None:
            box, drop = check_box(box, image_width, image_height)
            if drop is not None:
                drops.append(Drop(drop.kind, f"id {pid}: {drop.detail}"))
            if box is None:
                continue
        hyp_scores = [float(get_field(get_field(r, "hypothesis"), "score"))
                      for r in get_field(det, "results")]
        score = max(hyp_scores) if hyp_scores else 1.0
        boxes[pid] = np.asarray(box, dtype=_F32)
        scores[pid] = float(np.clip(score, 0.0, 1.0)) if np.isfinite(score) else 1.0
    return DetectionBoxes(boxes, scores, drops)


# ---- MaskPrompt / label masks -> per-person masks ---------------------------------------------

def person_masks_from_label_mask(label_mask: np.ndarray, labels: Sequence[int] = (),
                                 person_ids: Sequence[int] = ()) -> tuple:
    """Split a (H, W) label image into (H, W) bool masks by person id.

    ``labels[i]`` -> ``person_ids[i]``; several labels may map to one person (their masks are
    merged). Empty mapping: each non-zero label is the person id. Returns (masks, drops);
    drops report labels present in the image but not mapped (ignored), mapped labels without
    pixels, label 0 (background) in the mapping, negative person ids and repeated labels.
    Raises ValueError when labels and person_ids differ in length or the mask is not 2-D.
    """
    mask = np.asarray(label_mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"label mask must be a 2-D integer array, got {mask.dtype} {mask.shape}")
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    person_ids = [int(v) for v in np.asarray(person_ids).reshape(-1)]
    if len(labels) != len(person_ids):
        raise ValueError(f"mask labels ({len(labels)}) and person_ids ({len(person_ids)}) "
                         "must have the same length")
    if mask.size and mask.min() < 0:
        raise ValueError("label mask values must be >= 0")
    counts = np.bincount(mask.reshape(-1).astype(np.int64), minlength=1)   # pixels per label
    present = [int(v) for v in np.flatnonzero(counts) if v != 0]
    drops: list = []
    if not labels:
        mapping = {v: v for v in present}
    else:
        mapping = {}
        for label, pid in zip(labels, person_ids):
            if label == 0:
                drops.append(Drop("mask_label_background",
                                  f"label 0 is background and cannot name person {pid}"))
            elif pid < 0:
                drops.append(Drop("mask_person_id_negative", f"label {label} maps to id {pid}"))
            elif label in mapping:
                drops.append(Drop("mask_label_duplicate", f"label {label} is mapped twice; "
                                  f"person {mapping[label]} kept, {pid} ignored"))
            else:
                mapping[label] = pid
        unknown = [v for v in present if v not in mapping]
        if unknown:
            detail = ", ".join(f"{v} ({counts[v]} px)" for v in unknown)
            drops.append(Drop("mask_label_unknown", f"labels without a person id ignored: {detail}"))
    masks: dict = {}
    for label, pid in mapping.items():
        if label >= counts.size or counts[label] == 0:
            drops.append(Drop("mask_empty", f"id {pid}: label {label} has no pixel"))
            continue
        hit = mask == label
        masks[pid] = masks[pid] | hit if pid in masks else hit
    return masks, drops


def person_masks_from_mask_prompt(msg) -> tuple:
    """(masks by person id, drops) from a MaskPrompt (message or fields).

    Raises ValueError when the mask image cannot be decoded (bad encoding, size or length).
    """
    image = get_field(msg, "mask")
    label_mask = decode_label_mask(
        get_field(image, "data"), int(get_field(image, "width")), int(get_field(image, "height")),
        str(get_field(image, "encoding")), int(get_field(image, "step")),
        bool(get_field(image, "is_bigendian")),
    )
    return person_masks_from_label_mask(label_mask, get_field(msg, "labels"),
                                        get_field(msg, "person_ids"))


# ---- TextPrompt / InteractionPrompt ------------------------------------------------------------

def text_prompt_from_msg(msg) -> tuple:
    """(person_id, stamp_ns, text) of a TextPrompt (message or fields)."""
    return (int(get_field(msg, "person_id")), stamp_to_ns(get_field(get_field(msg, "header"), "stamp")),
            str(get_field(msg, "text")))


def interaction_pairs_from_msg(msg) -> tuple:
    """(pairs [(a, b), ...] with a < b, drops) of an InteractionPrompt's flat ``pairs``.

    An odd-length list drops its last id; pairs with a negative id or naming one person
    twice are dropped; repeated pairs are kept once.
    """
    flat = [int(v) for v in np.asarray(get_field(msg, "pairs")).reshape(-1)]
    drops, pairs = [], []
    if len(flat) % 2:
        drops.append(Drop("pairs_odd_length", f"{len(flat)} ids do not form pairs; "
                                              f"last id {flat[-1]} ignored"))
        flat = flat[:-1]
    for a, b in zip(flat[0::2], flat[1::2]):
        if a < 0 or b < 0:
            drops.append(Drop("pair_negative_id", f"pair ({a}, {b}) has a negative id"))
        elif a == b:
            drops.append(Drop("pair_same_id", f"pair ({a}, {b}) names the same person twice"))
        elif (min(a, b), max(a, b)) not in pairs:
            pairs.append((min(a, b), max(a, b)))
    return pairs, drops


# ---- ContactConstraintArray -> contact samples per pair ----------------------------------------

@dataclass(frozen=True)
class ContactSamples:
    """Contact constraints of one pair (person_a <= person_b), grouped by sample.

    ``samples[i]`` lists the region pairs of sample i: each entry is (regions of person_a,
    regions of person_b), each side a tuple of alternatives ("hand/arm" -> ("hand", "arm")).
    Samples without constraints are empty tuples; len(samples) = num_samples.
    """

    person_a: int
    person_b: int
    samples: tuple


def _region_known(name: str, vocabulary) -> bool:
    """A side-less name ("hand") is known when the model has it with a side ("left hand")."""
    return name in vocabulary or f"left {name}" in vocabulary or f"right {name}" in vocabulary


def contact_constraints_from_msg(msg, region_names: Optional[Sequence[str]] = None) -> tuple:
    """(list of ContactSamples, drops) from a ContactConstraintArray (message or fields).

    Pairs are keyed with person_a <= person_b (a constraint given as (b, a) has its sides
    swapped). With ``region_names``, entries naming an unknown region are dropped. Constraints
    whose sample_index is not below num_samples, whose region lists differ in length or that
    have a negative id are dropped; num_samples 0 with constraints is corrected to the
    highest sample index + 1.
    """
    vocabulary = None if region_names is None else set(region_names)
    num_samples = int(get_field(msg, "num_samples"))
    constraints = list(get_field(msg, "constraints"))
    drops: list = []
    if num_samples == 0 and constraints:
        num_samples = 1 + max(int(get_field(c, "sample_index")) for c in constraints)
        drops.append(Drop("contact_num_samples", f"num_samples 0 with {len(constraints)} "
                                                 f"constraints; taken as {num_samples}"))
    per_pair: dict = {}
    for index, c in enumerate(constraints):
        a, b = int(get_field(c, "person_a")), int(get_field(c, "person_b"))
        sample = int(get_field(c, "sample_index"))
        regions_a = [str(r) for r in get_field(c, "regions_a")]
        regions_b = [str(r) for r in get_field(c, "regions_b")]
        where = f"constraint {index} ({a}, {b})"
        if a < 0 or b < 0:
            drops.append(Drop("contact_negative_id", f"{where}: negative person id"))
            continue
        if sample >= num_samples:
            drops.append(Drop("contact_sample_index", f"{where}: sample_index {sample} >= "
                                                      f"num_samples {num_samples}"))
            continue
        if len(regions_a) != len(regions_b):
            drops.append(Drop("contact_regions_mismatch", f"{where}: {len(regions_a)} regions "
                                                          f"for a, {len(regions_b)} for b"))
            continue
        if a > b:
            a, b, regions_a, regions_b = b, a, regions_b, regions_a
        entries = []
        for ra, rb in zip(regions_a, regions_b):
            alts_a = tuple(s.strip() for s in ra.split("/") if s.strip())
            alts_b = tuple(s.strip() for s in rb.split("/") if s.strip())
            unknown = [] if vocabulary is None else [
                r for r in alts_a + alts_b if not _region_known(r, vocabulary)]
            if not alts_a or not alts_b or unknown:
                reason = f"unknown region(s) {unknown}" if unknown else "empty region name"
                drops.append(Drop("contact_region_unknown", f"{where}: ({ra!r}, {rb!r}) "
                                                            f"dropped: {reason}"))
                continue
            entries.append((alts_a, alts_b))
        per_pair.setdefault((a, b), [[] for _ in range(num_samples)])[sample].extend(entries)
    result = [ContactSamples(a, b, tuple(tuple(s) for s in samples))
              for (a, b), samples in sorted(per_pair.items())]
    return result, drops


def contact_sample_pairs(contact: ContactSamples) -> list:
    """``contact.samples`` as lists of (region of a, region of b) strings, alternatives joined
    with '/' again: the form ``ros_phmr.refine.ContactConstraint.samples`` takes."""
    return [[("/".join(alts_a), "/".join(alts_b)) for alts_a, alts_b in sample]
            for sample in contact.samples]
