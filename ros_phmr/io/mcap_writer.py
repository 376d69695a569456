"""A generic MCAP recorder that Foxglove opens and ``ros2 bag play`` replays.

Why the ``mcap`` package's Writer (not foxglove-sdk's ``open_mcap``): it gives explicit control of
schemas, log/publish times and sequence numbers without a global logging context, and writes any
encoding. ROS 2 channels carry CDR bytes serialised by ``rosbags`` with ``ros2msg`` schemas (the
message definition with its dependencies), exactly what rosbag2's MCAP storage writes.

Keep every topic of one recording in CDR if it should play with ``ros2 bag play``: rosbag2 refuses
a bag whose topics mix serialisation formats. Foxglove protobuf channels (``add_foxglove_channel``)
are for Foxglove-only recordings.

The file is always finalised (summary and index written) when the writer is closed, including on
an exception or Ctrl-C inside ``with McapWriter(...)``: what was written up to then stays readable.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Union

from mcap.writer import CompressionType, Writer
from rosbags.typesys import Stores, get_typestore

from .. import __version__
from .foxglove_msgs import register_foxglove_scene_msgs

_COMPRESSION = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}


# rmw enum values as rosbag2 stores them in version-8 metadata (Humble reads only these integers;
# later releases read them too).
_QOS_RELIABILITY = {"reliable": 1, "best_effort": 2}
_QOS_DURABILITY = {"transient_local": 1, "volatile": 2}
_QOS_HISTORY_KEEP_LAST = 1
_QOS_LIVELINESS_AUTOMATIC = 1


def qos_profile_metadata(durability: str = "volatile", reliability: str = "reliable",
                         depth: int = 10) -> Dict[str, str]:
    """Channel metadata with the QoS ``ros2 bag play`` should offer for a topic.

    Without it the player offers its default (volatile), which latched subscribers such as tf2's
    /tf_static listener (transient_local) do not match.
    """
    if durability not in _QOS_DURABILITY or reliability not in _QOS_RELIABILITY:
        raise ValueError(f"durability must be one of {sorted(_QOS_DURABILITY)} and reliability one of "
                         f"{sorted(_QOS_RELIABILITY)}, got {durability!r}, {reliability!r}")
    unspecified = "{sec: 0, nsec: 0}"
    profile = (f"- history: {_QOS_HISTORY_KEEP_LAST}\n  depth: {int(depth)}\n"
               f"  reliability: {_QOS_RELIABILITY[reliability]}\n  durability: {_QOS_DURABILITY[durability]}\n"
               f"  deadline: {unspecified}\n  lifespan: {unspecified}\n"
               f"  liveliness: {_QOS_LIVELINESS_AUTOMATIC}\n  liveliness_lease_duration: {unspecified}\n"
               f"  avoid_ros_namespace_conventions: false")
    return {"offered_qos_profiles": profile}


def ros2_typestore():
    """A fresh rosbags typestore (ROS 2 Humble message set) with the foxglove_msgs scene types.

    Humble's definitions of the common messages (sensor_msgs, geometry_msgs, tf2_msgs) are the
    same in Jazzy; a recording made with it plays on both.
    """
    store = get_typestore(Stores.ROS2_HUMBLE)
    register_foxglove_scene_msgs(store)
    return store


class McapWriter:
    """Record messages by topic into one MCAP file.

    ``typestore`` (rosbags) resolves ROS 2 message types; register project types on it (e.g.
    ``ros_phmr_msgs``) before adding their channels. Use it as a context manager so the file is
    finalised whatever happens.
    """

    def __init__(self, path: Union[str, Path], *, typestore=None, compression: str = "zstd",
                 overwrite: bool = True):
        if compression not in _COMPRESSION:
            raise ValueError(f"compression must be one of {sorted(_COMPRESSION)}, got {compression!r}")
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists (pass overwrite=True to replace it)")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"output folder {self.path.parent} does not exist")
        self.typestore = typestore if typestore is not None else ros2_typestore()
        self._stream = open(self.path, "wb")
        self._writer = Writer(self._stream, compression=_COMPRESSION[compression])
        self._writer.start(profile="ros2", library=f"ros_phmr {__version__}")
        self._channels: Dict[str, int] = {}     # topic -> channel id
        self._msgtypes: Dict[str, str] = {}     # topic -> ROS 2 type for CDR channels
        self._counts: Dict[str, int] = {}
        self._closed = False

    # --- channels ---------------------------------------------------------------------------
    def add_channel(self, topic: str, *, schema_name: str, schema_encoding: str, schema_data: bytes,
                    message_encoding: str, metadata: Optional[Dict[str, str]] = None) -> int:
        """Register a channel with any schema; returns its id. One channel per topic."""
        self._check_open()
        if topic in self._channels:
            raise ValueError(f"topic {topic!r} already has a channel")
        schema_id = self._writer.register_schema(schema_name, schema_encoding, bytes(schema_data))
        channel_id = self._writer.register_channel(topic, message_encoding, schema_id, dict(metadata or {}))
        self._channels[topic] = channel_id
        self._counts[topic] = 0
        return channel_id

    def add_ros2_channel(self, topic: str, msgtype: str, metadata: Optional[Dict[str, str]] = None) -> int:
        """Register a ROS 2 CDR channel of type ``msgtype`` (e.g. ``sensor_msgs/msg/Image``)."""
        if msgtype not in self.typestore.types:
            raise ValueError(f"unknown ROS 2 message type {msgtype!r}: register it on the typestore first")
        msgdef, _ = self.typestore.generate_msgdef(msgtype, ros_version=2)
        channel_id = self.add_channel(topic, schema_name=msgtype, schema_encoding="ros2msg",
                                      schema_data=msgdef.encode(), message_encoding="cdr",
                                      metadata=metadata)
        self._msgtypes[topic] = msgtype
        return channel_id

    def add_foxglove_channel(self, topic: str, message_class) -> int:
        """Register a Foxglove protobuf channel for a ``foxglove.messages`` class (e.g. SceneUpdate)."""
        schema = message_class.get_schema()
        return self.add_channel(topic, schema_name=schema.name, schema_encoding=schema.encoding,
                                schema_data=schema.data, message_encoding="protobuf")

    # --- messages ---------------------------------------------------------------------------
    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: Optional[int] = None) -> None:
        """Write already-encoded bytes on ``topic`` at ``log_time_ns`` (nanoseconds)."""
        self._check_open()
        if topic not in self._channels:
            raise ValueError(f"no channel for topic {topic!r}; add it first")
        log_time_ns = int(log_time_ns)
        if log_time_ns < 0:
            raise ValueError(f"log time must be >= 0 ns, got {log_time_ns}")
        publish = log_time_ns if publish_time_ns is None else int(publish_time_ns)
        sequence = self._counts[topic]
        self._writer.add_message(self._channels[topic], log_time=log_time_ns, data=bytes(data),
                                 publish_time=publish, sequence=sequence)
        self._counts[topic] = sequence + 1

    def write_ros2(self, topic: str, message, log_time_ns: int, publish_time_ns: Optional[int] = None) -> None:
        """Serialise a rosbags message object to CDR and write it on a ROS 2 ``topic``."""
        if topic not in self._msgtypes:
            raise ValueError(f"topic {topic!r} is not a ROS 2 channel; use add_ros2_channel first")
        data = self.typestore.serialize_cdr(message, self._msgtypes[topic])
        self.write(topic, data, log_time_ns, publish_time_ns)

    def write_foxglove(self, topic: str, message, log_time_ns: int) -> None:
        """Encode a ``foxglove.messages`` object (protobuf) and write it on ``topic``."""
        self.write(topic, message.encode(), log_time_ns)

    def add_metadata(self, name: str, data: Dict[str, str]) -> None:
        """Write an MCAP metadata record (string key/values), e.g. how a recording was made."""
        self._check_open()
        self._writer.add_metadata(name, {str(k): str(v) for k, v in data.items()})

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def counts(self) -> Dict[str, int]:
        """Messages written per topic so far."""
        return dict(self._counts)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Write the summary and close the file (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.finish()
        finally:
            self._stream.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"MCAP writer for {self.path} is closed")

    def __enter__(self) -> "McapWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
