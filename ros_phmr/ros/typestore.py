"""ROS 2 message types without ROS: a rosbags typestore with our and third-party ``.msg`` files.

Bag/MCAP writers and contract tests need the ros_phmr_msgs (and vision_msgs, hri_msgs)
definitions as rosbags types, and need to build those messages from the field dicts of
:mod:`ros_phmr.ros.convert`. rosbags ships std/sensor/geometry types per distribution.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_typestore, get_types_from_msg

MSG_PACKAGE = "ros_phmr_msgs"


def ros_phmr_msg_dir() -> Path:
    """Directory holding ros_phmr_msgs' ``.msg`` files.

    Looks in an installed ROS package (``share/ros_phmr_msgs/msg`` on AMENT_PREFIX_PATH), then
    in the source tree next to this package (``<repo>/msg/msg``), then in the copy that a pip
    install puts under ``<prefix>/share/ros_phmr/msg``. Raises FileNotFoundError.
    """
    candidates = [Path(prefix) / "share" / MSG_PACKAGE / "msg"
                  for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if prefix]
    candidates.append(Path(__file__).resolve().parents[2] / "msg" / "msg")
    candidates.append(Path(sys.prefix) / "share" / "ros_phmr" / "msg")
    for path in candidates:
        if any(path.glob("*.msg")):
            return path
    raise FileNotFoundError(
        f"no {MSG_PACKAGE} .msg files found; looked in: {', '.join(map(str, candidates))}"
    )


def msg_definitions(directory, package: str) -> dict:
    """{'package/msg/Name': definition text} for every ``Name.msg`` in ``directory``."""
    directory = Path(directory)
    files = sorted(directory.glob("*.msg"))
    if not files:
        raise FileNotFoundError(f"no .msg files in {directory}")
    return {f"{package}/msg/{f.stem}": f.read_text(encoding="utf-8") for f in files}


def make_typestore(definitions: Mapping, distro: str = "humble"):
    """A rosbags Typestore of ROS 2 ``distro`` (humble, jazzy, ...) plus ``definitions``."""
    try:
        store = Stores[f"ROS2_{distro.upper()}"]
    except KeyError:
        known = [s.name[5:].lower() for s in Stores if s.name.startswith("ROS2_")]
        raise ValueError(f"unknown ROS 2 distribution {distro!r}; known: {known}") from None
    return register_definitions(get_typestore(store), definitions)


def register_definitions(typestore, definitions: Mapping):
    """Add ``{'pkg/msg/Name': text}`` definitions to an existing typestore (e.g. the MCAP
    writer's); returns it. Types may refer to each other and to types already present."""
    types: dict = {}
    for name, text in definitions.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)
    return typestore


_NUMPY_NAMES = {"byte": "uint8", "char": "uint8"}


def _build_value(typestore, desc, value):
    kind, detail = desc
    if kind == Nodetype.NAME:
        return build_message(typestore, detail, value)
    if kind == Nodetype.BASE:
        return value
    (elem_kind, elem_detail), _length = detail
    if elem_kind == Nodetype.NAME:
        return [build_message(typestore, elem_detail, v) for v in value]
    if elem_detail[0] == "string":
        return [str(v) for v in value]
    dtype = np.dtype(_NUMPY_NAMES.get(elem_detail[0], elem_detail[0]))
    return np.ascontiguousarray(value, dtype=dtype).reshape(-1)


def build_message(typestore, msgtype: str, fields: Mapping):
    """A rosbags message of ``msgtype`` from a field dict (nested dicts for nested messages).

    Every field of the type must be given (and no other); raises ValueError otherwise.
    """
    if msgtype not in typestore.fielddefs:
        raise ValueError(f"type {msgtype!r} is not in the typestore")
    _consts, defs = typestore.fielddefs[msgtype]
    names = [name for name, _ in defs]
    missing, extra = set(names) - set(fields), set(fields) - set(names)
    if missing or extra:
        raise ValueError(f"{msgtype}: missing fields {sorted(missing)}, unknown fields {sorted(extra)}")
    kwargs = {name: _build_value(typestore, desc, fields[name]) for name, desc in defs}
    return typestore.types[msgtype](**kwargs)
