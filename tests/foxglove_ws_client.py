"""A minimal Foxglove WebSocket protocol client for tests (real ``websockets``, real protobuf).

Speaks the ``foxglove.sdk.v1`` / ``foxglove.websocket.v1`` subprotocol: reads the server's
``advertise`` ops, subscribes by channel id, and decodes binary ``messageData`` frames
(opcode 1, uint32 subscription id, uint64 log time, payload) with the schema the server
advertised (a base64 protobuf FileDescriptorSet).
"""
from __future__ import annotations

import asyncio
import base64
import json
import struct

import websockets
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

SUBPROTOCOLS = ["foxglove.sdk.v1", "foxglove.websocket.v1"]
MESSAGE_DATA_OPCODE = 1


def protobuf_class(channel: dict):
    """The message class of an advertised protobuf channel, built from its advertised schema."""
    assert channel["encoding"] == "protobuf" and channel["schemaEncoding"] == "protobuf", channel
    files = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))


async def receive(url: str, topics, count: int, timeout_s: float = 10.0, on_subscribed=None) -> dict:
    """Subscribe to ``topics`` and collect ``count`` decoded messages per topic.

    Returns {"subprotocol", "channels" (topic -> advertised channel), "messages" (topic -> list of
    (log_time_ns, decoded protobuf message))}. ``on_subscribed`` (sync) runs once subscribed.
    """
    async with websockets.connect(url, subprotocols=SUBPROTOCOLS, max_size=None) as ws:
        channels: dict = {}
        while not all(t in channels for t in topics):
            op = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
            if op["op"] == "advertise":
                channels.update({c["topic"]: c for c in op["channels"]})
        subs = {i + 1: topic for i, topic in enumerate(topics)}
        classes = {topic: protobuf_class(channels[topic]) for topic in topics}
        await ws.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": sid, "channelId": channels[topic]["id"]} for sid, topic in subs.items()]}))
        await asyncio.sleep(0.2)                       # let the server register the subscriptions
        if on_subscribed is not None:
            await asyncio.get_running_loop().run_in_executor(None, on_subscribed)
        messages = {topic: [] for topic in topics}
        while any(len(m) < count for m in messages.values()):
            frame = await asyncio.wait_for(ws.recv(), timeout_s)
            if isinstance(frame, str) or frame[0] != MESSAGE_DATA_OPCODE:
                continue
            sid, log_time = struct.unpack_from("<IQ", frame, 1)
            topic = subs[sid]
            messages[topic].append((log_time, classes[topic].FromString(frame[13:])))
        return {"subprotocol": ws.subprotocol, "channels": channels, "messages": messages}


def run_receive(url: str, topics, count: int, **kwargs) -> dict:
    return asyncio.run(receive(url, topics, count, **kwargs))
