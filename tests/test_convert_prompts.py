"""Prompt and camera messages -> library inputs, with messages made by real rosbags CDR from the
real vision_msgs / sensor_msgs / ros_phmr_msgs definitions; expected values computed by hand."""
import math
from pathlib import Path

import numpy as np
import pytest

from ros_phmr.ros.convert import (
    ContactSamples,
    boxes_from_detection_array,
    camera_info_to_intrinsics,
    contact_constraints_from_msg,
    interaction_pairs_from_msg,
    person_masks_from_label_mask,
    person_masks_from_mask_prompt,
    text_prompt_from_msg,
)
from ros_phmr.ros.msg_fields import header_fields
from ros_phmr.ros.rep155 import parse_person_id
from ros_phmr.ros.typestore import build_message, make_typestore, msg_definitions

TESTS = Path(__file__).resolve().parent
MSG_DIR = TESTS.parent / "msg" / "msg"
VISION = TESTS / "data" / "ros_interfaces" / "vision_msgs"
STAMP = 1_700_000_000_250_000_000
W, H = 640, 480


@pytest.fixture(scope="module")
def typestore():
    return make_typestore({**msg_definitions(MSG_DIR, "ros_phmr_msgs"),
                           **msg_definitions(VISION, "vision_msgs")}, "humble")


def wire(typestore, msgtype, fields):
    """Build, serialise to CDR and read back: what a subscriber would receive."""
    raw = typestore.serialize_cdr(build_message(typestore, msgtype, fields), msgtype)
    return typestore.deserialize_cdr(bytes(raw), msgtype)


def detection(det_id, cx, cy, sx, sy, theta=0.0, scores=()):
    pose = {"pose": {"position": {"x": 0.0, "y": 0.0, "z": 0.0},
                     "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
            "covariance": np.zeros(36)}
    return {
        "header": header_fields(STAMP, "cam"),
        "results": [{"hypothesis": {"class_id": "person", "score": s}, "pose": pose} for s in scores],
        "bbox": {"center": {"position": {"x": cx, "y": cy}, "theta": theta},
                 "size_x": sx, "size_y": sy},
        "id": det_id,
    }


@pytest.fixture(scope="module")
def detections(typestore):
    dets = [
        detection("3", 100, 200, 40, 80, scores=(0.4, 0.9)),
        detection("b5", 300, 240, 40, 100, theta=math.pi / 2),     # rotated a quarter turn
        detection("x7", 10, 10, 5, 5),
        detection("", 10, 10, 5, 5),
        detection("3", 50, 50, 10, 10),
        detection("8", 630, 470, 40, 40),                           # partly outside
        detection("9", 1000, 1000, 40, 40),                         # entirely outside
        detection("10", float("nan"), 5, 10, 10),
        detection("11", 50, 50, 0, 10),
        detection("-4", 50, 50, 10, 10),
        detection(" 12 ", 320, 240, 20 * math.sqrt(2), 20 * math.sqrt(2), theta=math.pi / 4),
    ]
    return wire(typestore, "vision_msgs/msg/Detection2DArray",
                {"header": header_fields(STAMP, "cam"), "detections": dets})


def test_detection_boxes_by_person_id(detections):
    boxes, scores, drops = boxes_from_detection_array(detections, W, H)
    assert sorted(boxes) == [3, 5, 8, 12]
    np.testing.assert_allclose(boxes[3], [80, 160, 120, 240])
    np.testing.assert_allclose(boxes[5], [250, 220, 350, 260], atol=1e-4)   # extents swapped
    np.testing.assert_allclose(boxes[8], [610, 450, 640, 480])              # clipped
    np.testing.assert_allclose(boxes[12], [300, 220, 340, 260], atol=1e-4)  # 45 deg square
    assert all(b.dtype == np.float32 and b.shape == (4,) for b in boxes.values())
    assert scores == {3: pytest.approx(0.9), 5: 1.0, 8: 1.0, 12: 1.0}
    kinds = sorted(d.kind for d in drops)
    assert kinds == sorted(["detection_id_invalid", "detection_id_missing",
                            "detection_id_duplicate", "box_clipped", "box_outside_image",
                            "box_not_finite", "box_empty", "detection_id_invalid"])
    assert any("'x7'" in d.detail for d in drops)
    assert any("negative" in d.detail for d in drops)


def test_detection_boxes_without_image_size_are_not_clipped(detections):
    boxes, _, drops = boxes_from_detection_array(detections)
    np.testing.assert_allclose(boxes[8], [610, 450, 650, 490])
    np.testing.assert_allclose(boxes[9], [980, 980, 1020, 1020])
    assert "box_clipped" not in {d.kind for d in drops}


def test_detection_boxes_from_field_dicts_and_old_center_layout():
    det = detection("2", 100, 100, 20, 40)
    det["bbox"]["center"] = {"x": 100.0, "y": 100.0, "theta": 0.0}   # vision_msgs < 4 (Foxy)
    boxes, _, drops = boxes_from_detection_array({"detections": [det]}, W, H)
    np.testing.assert_allclose(boxes[2], [90, 80, 110, 120])
    assert drops == []


@pytest.mark.parametrize("text, value", [("7", 7), (" 7 ", 7), ("b7", 7), ("+3", 3), ("0", 0)])
def test_person_ids_parse(text, value):
    assert parse_person_id(text) == value


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("b", "empty"), ("seven", "not a number"), ("-1", "negative"),
    ("3.5", "not a number"), ("99999999999", "int32"), ("\u0663", "not a number"),
])
def test_bad_person_ids_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_person_id(text)


# ---- masks -----------------------------------------------------------------------------------

LABELS = np.array([
    [0, 1, 1, 0, 300, 300, 0, 7],
    [0, 1, 2, 2, 300, 300, 0, 7],
    [0, 0, 2, 2, 0, 0, 0, 0],
], dtype=np.uint16)


def _mono16_image(labels, bigendian, pad):
    rows = labels.astype(">u2" if bigendian else "<u2").view(np.uint8).reshape(labels.shape[0], -1)
    rows = np.concatenate([rows, np.full((rows.shape[0], pad), 0xEE, np.uint8)], axis=1)
    return {"header": header_fields(STAMP, "cam"), "height": labels.shape[0],
            "width": labels.shape[1], "encoding": "mono16", "is_bigendian": int(bigendian),
            "step": rows.shape[1], "data": rows.reshape(-1)}


@pytest.mark.parametrize("bigendian", [False, True])
def test_mask_prompt_through_cdr(typestore, bigendian):
    fields = {"header": header_fields(STAMP, "cam"), "mask": _mono16_image(LABELS, bigendian, 4),
              "labels": np.array([1, 2, 300, 5], np.uint16),
              "person_ids": np.array([10, 10, 4, 6], np.int32)}
    msg = wire(typestore, "ros_phmr_msgs/msg/MaskPrompt", fields)
    masks, drops = person_masks_from_mask_prompt(msg)
    assert sorted(masks) == [4, 10]
    np.testing.assert_array_equal(masks[10], (LABELS == 1) | (LABELS == 2))
    np.testing.assert_array_equal(masks[4], LABELS == 300)
    assert masks[4].dtype == bool
    by_kind = {d.kind: d.detail for d in drops}
    assert set(by_kind) == {"mask_empty", "mask_label_unknown"}
    assert "id 6: label 5" in by_kind["mask_empty"]
    assert "7 (2 px)" in by_kind["mask_label_unknown"]


def test_label_values_are_person_ids_without_a_mapping():
    labels = np.array([[0, 3, 3], [4, 4, 0]], dtype=np.uint8)
    masks, drops = person_masks_from_label_mask(labels)
    assert sorted(masks) == [3, 4] and drops == []
    np.testing.assert_array_equal(masks[4], labels == 4)


def test_bad_mask_mappings_are_reported():
    labels = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    masks, drops = person_masks_from_label_mask(labels, [0, 1, 1, 2, 3], [9, 5, 6, -2, 7])
    assert sorted(masks) == [5, 7]
    assert sorted(d.kind for d in drops) == [
        "mask_label_background", "mask_label_duplicate", "mask_label_unknown",
        "mask_person_id_negative"]


def test_mask_mapping_length_mismatch_and_bad_images_raise():
    with pytest.raises(ValueError, match=r"labels \(2\) and person_ids \(1\)"):
        person_masks_from_label_mask(np.zeros((2, 2), np.uint8), [1, 2], [3])
    image = _mono16_image(LABELS, False, 0)
    image["encoding"] = "rgb8"
    with pytest.raises(ValueError, match="unsupported label-mask encoding 'rgb8'"):
        person_masks_from_mask_prompt({"mask": image, "labels": [], "person_ids": []})
    image = _mono16_image(LABELS, False, 0)
    image["data"] = image["data"][:-1]
    with pytest.raises(ValueError, match="data has 47 bytes"):
        person_masks_from_mask_prompt({"mask": image, "labels": [], "person_ids": []})


# ---- camera info -----------------------------------------------------------------------------

K_FULL = np.array([[1000.0, 0.0, 640.0], [0.0, 1002.0, 360.0], [0.0, 0.0, 1.0]])


def camera_info(k=K_FULL, width=1280, height=720, binning=(0, 0), roi=(0, 0, 0, 0)):
    return {
        "header": header_fields(STAMP, "cam"), "height": height, "width": width,
        "distortion_model": "plumb_bob", "d": np.zeros(5), "k": np.asarray(k, float).reshape(-1),
        "r": np.eye(3).reshape(-1), "p": np.zeros(12), "binning_x": binning[0],
        "binning_y": binning[1],
        "roi": {"x_offset": roi[0], "y_offset": roi[1], "width": roi[2], "height": roi[3],
                "do_rectify": False},
    }


def test_camera_info_k(typestore):
    msg = wire(typestore, "sensor_msgs/msg/CameraInfo", camera_info())
    np.testing.assert_array_equal(camera_info_to_intrinsics(msg), K_FULL)


def test_camera_info_binning_and_roi():
    K = camera_info_to_intrinsics(camera_info(binning=(2, 2)))
    np.testing.assert_allclose(K, [[500, 0, 320], [0, 501, 180], [0, 0, 1]])
    K = camera_info_to_intrinsics(camera_info(roi=(100, 50, 640, 480)))
    np.testing.assert_allclose(K, [[1000, 0, 540], [0, 1002, 310], [0, 0, 1]])


def test_camera_info_scaled_to_a_resized_image():
    K = camera_info_to_intrinsics(camera_info(), image_width=640, image_height=360)
    # half-pixel-centre resize by 0.5: f' = f / 2, c' = (c + 0.5) / 2 - 0.5
    np.testing.assert_allclose(K, [[500, 0, 319.75], [0, 501, 179.75], [0, 0, 1]])


def test_uncalibrated_or_broken_camera_info_raises():
    with pytest.raises(ValueError, match="not calibrated"):
        camera_info_to_intrinsics(camera_info(k=np.zeros(9)))
    with pytest.raises(ValueError, match="NaN"):
        camera_info_to_intrinsics(camera_info(k=np.full(9, np.nan)))


# ---- text, interaction pairs, contact constraints -------------------------------------------

def test_text_prompt(typestore):
    msg = wire(typestore, "ros_phmr_msgs/msg/TextPrompt",
               {"header": header_fields(STAMP, ""), "person_id": 4, "text": "child in blue"})
    assert text_prompt_from_msg(msg) == (4, STAMP, "child in blue")


def test_interaction_pairs(typestore):
    msg = wire(typestore, "ros_phmr_msgs/msg/InteractionPrompt",
               {"header": header_fields(STAMP, ""),
                "pairs": np.array([5, 2, 2, 5, 3, 3, -1, 4, 8], np.int32)})
    pairs, drops = interaction_pairs_from_msg(msg)
    assert pairs == [(2, 5)]
    assert sorted(d.kind for d in drops) == ["pair_negative_id", "pair_same_id", "pairs_odd_length"]


def test_contact_constraints_grouped_by_pair_and_sample(typestore):
    def c(a, b, sample, ra, rb):
        return {"person_a": a, "person_b": b, "sample_index": sample, "regions_a": ra,
                "regions_b": rb}
    fields = {"header": header_fields(STAMP, ""), "num_samples": 3, "constraints": [
        c(1, 2, 0, ["hand", "arm"], ["back", "shoulder (front)/shoulder (back)"]),
        c(2, 1, 2, ["hand"], ["foot"]),            # reversed pair: sides swapped
        c(1, 2, 5, ["hand"], ["back"]),            # sample index out of range
        c(1, 2, 1, ["hand"], ["back", "head"]),    # length mismatch
        c(1, 2, 1, ["wing"], ["back"]),            # unknown region
        c(3, 3, 0, ["hand"], ["foot"]),            # self-contact
    ]}
    msg = wire(typestore, "ros_phmr_msgs/msg/ContactConstraintArray", fields)
    vocabulary = ["left hand", "right hand", "left arm", "right arm", "back", "head",
                  "left foot", "right foot", "shoulder (front)", "shoulder (back)"]
    result, drops = contact_constraints_from_msg(msg, vocabulary)
    assert result == [
        ContactSamples(1, 2, (
            (((("hand",), ("back",))), (("arm",), ("shoulder (front)", "shoulder (back)"))),
            (),
            ((("foot",), ("hand",)),),
        )),
        ContactSamples(3, 3, (((("hand",), ("foot",)),), (), ())),
    ]
    assert sorted(d.kind for d in drops) == [
        "contact_region_unknown", "contact_regions_mismatch", "contact_sample_index"]


def test_contact_constraints_zero_samples_is_corrected():
    msg = {"num_samples": 0, "constraints": [
        {"person_a": 0, "person_b": 1, "sample_index": 1, "regions_a": ["hand"],
         "regions_b": ["hand"]}]}
    result, drops = contact_constraints_from_msg(msg)
    assert len(result[0].samples) == 2 and result[0].samples[0] == ()
    assert [d.kind for d in drops] == ["contact_num_samples"]
