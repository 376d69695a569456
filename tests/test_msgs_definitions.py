"""ros_phmr_msgs definitions: they parse with rosbags next to the real vision_msgs/hri_msgs,
follow rosidl naming rules, are documented, and the package files list them all."""
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rosbags.interfaces import Nodetype

from ros_phmr import people
from ros_phmr.ros.typestore import (
    make_typestore,
    msg_definitions,
    register_definitions,
    ros_phmr_msg_dir,
)

ROOT = Path(__file__).resolve().parents[1]
MSG_PKG = ROOT / "msg"
MSG_DIR = MSG_PKG / "msg"
THIRD_PARTY = Path(__file__).resolve().parent / "data" / "ros_interfaces"
HASHES = Path(__file__).resolve().parent / "data" / "msgs" / "rihs01.json"

EXPECTED_MESSAGES = {
    "HumanMesh", "HumanMeshArray", "MeshTopology", "TextPrompt", "InteractionPrompt",
    "MaskPrompt", "ContactConstraint", "ContactConstraintArray", "Interaction",
    "InteractionArray",
}
# rosidl_adapter naming rules (field, constant and message names).
FIELD_NAME = re.compile(r"^(?!.*__)(?!.*_$)[a-z][a-z0-9_]*$")
CONSTANT_NAME = re.compile(r"^[A-Z]([A-Z0-9_]?[A-Z0-9]+)*$")
MESSAGE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def _all_definitions():
    return {
        **msg_definitions(MSG_DIR, "ros_phmr_msgs"),
        **msg_definitions(THIRD_PARTY / "vision_msgs", "vision_msgs"),
        **msg_definitions(THIRD_PARTY / "hri_msgs", "hri_msgs"),
    }


def _referenced_types(typestore, name, seen=None):
    seen = set() if seen is None else seen
    for _, (kind, detail) in typestore.fielddefs[name][1]:
        if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            kind, detail = detail[0]
        if kind == Nodetype.NAME and detail not in seen:
            seen.add(detail)
            _referenced_types(typestore, detail, seen)
    return seen


def test_the_message_set_is_complete():
    assert {p.stem for p in MSG_DIR.glob("*.msg")} == EXPECTED_MESSAGES


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_every_definition_parses_and_resolves(distro):
    typestore = make_typestore(_all_definitions(), distro)
    for name in sorted(EXPECTED_MESSAGES):
        full = f"ros_phmr_msgs/msg/{name}"
        assert full in typestore.types
        for ref in _referenced_types(typestore, full):
            assert ref in typestore.fielddefs, f"{full} uses {ref}, unknown in {distro}"
    # the third-party definitions are usable too
    for full in ("vision_msgs/msg/Detection2DArray", "hri_msgs/msg/IdsList",
                 "hri_msgs/msg/NormalizedRegionOfInterest2D", "hri_msgs/msg/Skeleton2D"):
        assert full in typestore.types


def test_names_follow_rosidl_rules():
    typestore = make_typestore(msg_definitions(MSG_DIR, "ros_phmr_msgs"))
    for name in EXPECTED_MESSAGES:
        assert MESSAGE_NAME.match(name), name
        consts, fields = typestore.fielddefs[f"ros_phmr_msgs/msg/{name}"]
        for field, _ in fields:
            assert FIELD_NAME.match(field), f"{name}.{field}"
        for const, _, _ in consts:
            assert CONSTANT_NAME.match(const), f"{name}.{const}"


@pytest.mark.parametrize("path", sorted(MSG_DIR.glob("*.msg")), ids=lambda p: p.stem)
def test_every_field_is_documented(path):
    """Each field line sits in a paragraph (lines between blank lines) that has a comment."""
    paragraphs = path.read_text().split("\n\n")
    assert paragraphs[0].startswith("#"), f"{path.name} has no leading description"
    for paragraph in paragraphs:
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        fields = [line for line in lines if not line.startswith("#")]
        if fields:
            assert any("#" in line for line in lines), f"{path.name}: undocumented {fields}"


def test_prompt_constants_match_the_library():
    typestore = make_typestore(msg_definitions(MSG_DIR, "ros_phmr_msgs"))
    consts = {c: v for c, _, v in typestore.fielddefs["ros_phmr_msgs/msg/HumanMesh"][0]}
    assert consts == {"PROMPT_BOX": people.PROMPT_BOX, "PROMPT_MASK": people.PROMPT_MASK,
                      "PROMPT_TEXT": people.PROMPT_TEXT,
                      "PROMPT_INTERACTION": people.PROMPT_INTERACTION}


def test_fixed_array_lengths_match_smplx_parameter_shapes():
    typestore = make_typestore(msg_definitions(MSG_DIR, "ros_phmr_msgs"))
    fields = dict(typestore.fielddefs["ros_phmr_msgs/msg/HumanMesh"][1])
    fixed = {name: desc[1][1] for name, desc in fields.items() if desc[0] == Nodetype.ARRAY}
    assert fixed == {"box_xyxy": 4, "global_orient": 3, "body_pose": 21 * 3,
                     "left_hand_pose": 15 * 3, "right_hand_pose": 15 * 3, "jaw_pose": 3,
                     "transl": 3}
    # big arrays are flat float32 sequences, never geometry_msgs/Point[]
    for name in ("joints_3d", "joints_2d", "vertices", "betas", "expression"):
        assert fields[name] == (Nodetype.SEQUENCE, ((Nodetype.BASE, ("float32", 0)), 0)), name
    topo = dict(typestore.fielddefs["ros_phmr_msgs/msg/MeshTopology"][1])
    assert topo["faces"] == (Nodetype.SEQUENCE, ((Nodetype.BASE, ("uint32", 0)), 0))


def test_package_files_list_every_message_and_dependency():
    cmake = (MSG_PKG / "CMakeLists.txt").read_text()
    listed = set(re.findall(r'"msg/(\w+)\.msg"', cmake))
    assert listed == EXPECTED_MESSAGES
    used_packages = set()
    for path in MSG_DIR.glob("*.msg"):
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and "/" in line.split()[0]:
                used_packages.add(line.split()[0].split("/")[0])
    cmake_deps = set(re.search(r"DEPENDENCIES([^)]*)\)", cmake).group(1).split())
    assert cmake_deps == used_packages
    for dep in used_packages:
        assert f"find_package({dep} REQUIRED)" in cmake

    root = ET.parse(MSG_PKG / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "ros_phmr_msgs"
    assert {e.text for e in root.findall("buildtool_depend")} == {
        "ament_cmake", "rosidl_default_generators"}
    assert {e.text for e in root.findall("depend")} == used_packages
    assert [e.text for e in root.findall("exec_depend")] == ["rosidl_default_runtime"]
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    assert root.find("export").findtext("build_type") == "ament_cmake"


def test_type_hashes_are_pinned():
    """RIHS01 hashes (REP-2016, as rmw_zenoh and Jazzy+ compare them) change only on purpose.

    After a deliberate interface change, regenerate tests/data/msgs/rihs01.json with
    ``make_typestore(...).hash_rihs01(name)`` for every ros_phmr_msgs type.
    """
    typestore = make_typestore(_all_definitions(), "jazzy")
    pinned = json.loads(HASHES.read_text())
    current = {name: typestore.hash_rihs01(f"ros_phmr_msgs/msg/{name}")
               for name in sorted(EXPECTED_MESSAGES)}
    assert current == pinned


def test_pinned_hashes_equal_the_ones_rosidl_generated():
    """Where ros_phmr_msgs is built, rosidl's own type descriptions carry the pinned hashes."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    built = [Path(p) / "share" / "ros_phmr_msgs" / "msg" for p in prefixes
             if (Path(p) / "share" / "ros_phmr_msgs" / "msg" / "HumanMesh.json").is_file()]
    if not built:
        pytest.skip("ros_phmr_msgs is not built here (no rosidl type description JSON)")
    pinned = json.loads(HASHES.read_text())
    generated = {}
    for name in pinned:
        description = json.loads((built[0] / f"{name}.json").read_text())
        generated[name] = next(h["hash_string"] for h in description["type_hashes"]
                               if h["type_name"] == f"ros_phmr_msgs/msg/{name}")
    assert generated == pinned


def test_msg_dir_is_found_in_the_source_tree(monkeypatch):
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    assert ros_phmr_msg_dir() == MSG_DIR


def test_msg_dir_prefers_an_installed_package(monkeypatch, tmp_path):
    share = tmp_path / "share" / "ros_phmr_msgs" / "msg"
    share.mkdir(parents=True)
    (share / "HumanMesh.msg").write_text("int32 track_id\n")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert ros_phmr_msg_dir() == share


def test_unknown_distro_is_refused():
    with pytest.raises(ValueError, match="unknown ROS 2 distribution 'rolling2'.*humble"):
        make_typestore({}, "rolling2")


def test_rosidl_adapter_and_parser_accept_every_definition(tmp_path):
    """What colcon's rosidl step does first (.msg -> .idl -> parse); runs where ROS's rosidl
    Python packages are installed (Debian/Ubuntu python3-rosidl, any ROS 2 distribution)."""
    pytest.importorskip("em")
    pytest.importorskip("rosidl_adapter")
    from rosidl_adapter.msg import convert_msg_to_idl
    from rosidl_adapter.parser import parse_message_file
    from rosidl_parser.definition import IdlLocator
    from rosidl_parser.parser import parse_idl_file

    for path in sorted(MSG_DIR.glob("*.msg")):
        parse_message_file("ros_phmr_msgs", str(path))
        idl = convert_msg_to_idl(MSG_PKG, "ros_phmr_msgs", path.relative_to(MSG_PKG), tmp_path)
        parsed = parse_idl_file(IdlLocator(tmp_path, idl.relative_to(tmp_path)))
        assert parsed.content.elements, path.name


def test_definitions_register_on_the_mcap_writers_typestore():
    from ros_phmr.io.mcap_writer import ros2_typestore

    store = register_definitions(ros2_typestore(), msg_definitions(MSG_DIR, "ros_phmr_msgs"))
    assert "ros_phmr_msgs/msg/HumanMeshArray" in store.types
    assert "foxglove_msgs/msg/SceneUpdate" in store.types
