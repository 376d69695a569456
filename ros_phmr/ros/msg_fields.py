"""Message-shaped plain data: reading fields of any message flavour, headers, stamps, buffers.

"Field dicts" mirror a ``.msg`` definition exactly: keys are field names, nested messages are
dicts, sequences of messages are lists of dicts, numeric arrays are 1-D numpy arrays of the
field's type (float32, uint32, ...), strings are ``str``. The same dict builds an rclpy message
in the node and a rosbags message for bags and tests.

For rclpy, fixed-size arrays (``float32[3]``) accept the numpy arrays as they are, while
unbounded sequences (``float32[]``) take their fast path only from ``array.array``
(rosidl_python#129); :func:`to_array_array` makes one without a per-element loop.
"""
from __future__ import annotations

import array
from collections.abc import Mapping

import numpy as np

NS_PER_S = 1_000_000_000
_INT32_MAX = 2**31 - 1

# numpy dtype -> array.array typecode with the same item size, as rclpy uses for sequences.
_TYPECODES = {
    np.dtype(np.float32): "f", np.dtype(np.float64): "d",
    np.dtype(np.int8): "b", np.dtype(np.uint8): "B",
    np.dtype(np.int16): "h", np.dtype(np.uint16): "H",
    np.dtype(np.int32): "i", np.dtype(np.uint32): "I",
    np.dtype(np.int64): "q", np.dtype(np.uint64): "Q",
}


def get_field(msg, name: str):
    """``msg.name`` for rclpy/rosbags messages, ``msg[name]`` for field dicts."""
    if isinstance(msg, Mapping):
        if name not in msg:
            raise ValueError(f"message fields have no {name!r} (got {sorted(msg)})")
        return msg[name]
    try:
        return getattr(msg, name)
    except AttributeError:
        raise ValueError(f"{type(msg).__name__} message has no field {name!r}") from None


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time (message or dict with sec, nanosec) -> integer nanoseconds."""
    return int(get_field(stamp, "sec")) * NS_PER_S + int(get_field(stamp, "nanosec"))


def header_fields(stamp_ns: int, frame_id: str) -> dict:
    """std_msgs/Header fields for a stamp in integer nanoseconds and a frame id."""
    stamp_ns = int(stamp_ns)
    sec, nanosec = divmod(stamp_ns, NS_PER_S)
    if not -_INT32_MAX - 1 <= sec <= _INT32_MAX:
        raise ValueError(f"stamp {stamp_ns} ns does not fit builtin_interfaces/Time (int32 seconds)")
    return {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": str(frame_id)}


def to_array_array(values: np.ndarray) -> array.array:
    """A 1-D numpy array as ``array.array`` of the same item type (one memory copy, no loop)."""
    values = np.asarray(values)
    code = _TYPECODES.get(values.dtype)
    if code is None:
        raise ValueError(f"no array.array type for dtype {values.dtype}")
    out = array.array(code)
    if out.itemsize != values.dtype.itemsize:
        raise ValueError(f"array.array('{code}') has {out.itemsize} bytes per item on this "
                         f"platform, dtype {values.dtype} has {values.dtype.itemsize}")
    out.frombytes(np.ascontiguousarray(values.reshape(-1)).tobytes())
    return out
