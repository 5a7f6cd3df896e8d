"""Bytes and properties put on the real broker exactly as given (no kombu serializer in the way), and a look
at a queue's depth: for tests of what the inbox does with whatever a producer sends."""

from __future__ import annotations

import json
import uuid
from struct import pack
from typing import Any

import amqp
from kombu import Connection


def publish_raw(url: str, exchange: str, routing_key: str | bytes, body: bytes, *, count: int = 1,
                headers: dict[str, Any] | None = None, **properties: Any) -> None:
    """Publish ``body`` ``count`` times with exactly these AMQP properties (pass message_id=..., content_type=...),
    waiting for the broker's confirms so the messages are routed when this returns."""
    if headers:
        properties["application_headers"] = headers
    with Connection(url) as connection:
        channel: Any = connection.channel()
        channel.confirm_select()
        for _ in range(count):
            channel.basic_publish(amqp.Message(body, **properties), exchange=exchange, routing_key=routing_key)
        channel.close()


def publish_json(url: str, exchange: str, topic: str, payload: Any, *, message_id: str | None = None,
                 count: int = 1, **properties: Any) -> str:
    """A well-formed JSON message as a foreign producer would send it; returns its message id."""
    message_id = message_id or uuid.uuid4().hex
    publish_raw(url, exchange, topic, json.dumps(payload).encode(), count=count, message_id=message_id,
                content_type="application/json", delivery_mode=2, **properties)
    return message_id


def queue_state(url: str, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) of an existing queue, from a passive declare. Unacknowledged messages of a
    closed connection are counted again as ready, so 0 after the consumer closed means all were acked."""
    with Connection(url) as connection:
        _, messages, consumers = connection.default_channel.queue_declare(queue=queue, passive=True)
        return int(messages), int(consumers)


def bind(url: str, queue: str, exchange: str, routing_key: str) -> None:
    """Bind an existing queue to one more routing key (for topics no handler declared)."""
    with Connection(url) as connection:
        connection.default_channel.queue_bind(queue=queue, exchange=exchange, routing_key=routing_key)


# -- content headers no client builds: bytes of the basic properties as they go on the wire -------------------
def shortstr(value: bytes) -> bytes:
    """An AMQP short string: one length byte, then the bytes as given (valid UTF-8 or not)."""
    return pack("B", len(value)) + value


def table(entries: bytes) -> bytes:
    """An AMQP field table around already encoded entries."""
    return pack(">I", len(entries)) + entries


def nested_table(depth: int, name: bytes = b"n") -> bytes:
    """A header table nested ``depth`` levels deep, built without recursion (py-amqp's writer recurses)."""
    inner = b""
    for _ in range(depth):
        inner = shortstr(name) + b"F" + table(inner)
    return table(inner)


def timestamp_entry(name: bytes, seconds: int) -> bytes:
    """A table entry of AMQP type ``T`` (64-bit unsigned seconds), any value including 2**64 - 1."""
    return shortstr(name) + b"T" + pack(">Q", seconds)


def basic_properties(*, content_type: bytes | None = None, headers: bytes | None = None,
                     message_id: bytes | None = None) -> bytes:
    """The property flags and list of a basic content header (the fields tests need, in wire order)."""
    flags, parts = 0, []
    for flag, value in ((0x8000, content_type and shortstr(content_type)), (0x2000, headers),
                        (0x0080, message_id and shortstr(message_id))):
        if value is not None:
            flags, parts = flags | flag, [*parts, value]
    return pack(">H", flags) + b"".join(parts)


class RawPropertiesMessage(amqp.Message):  # type: ignore[misc]
    """A message published with exactly these property bytes (see basic_properties)."""

    def __init__(self, body: bytes, raw_properties: bytes) -> None:
        super().__init__(body)
        self.raw_properties = raw_properties

    def _serialize_properties(self) -> bytes:  # py-amqp's frame writer asks each message for these bytes
        return self.raw_properties


def publish_raw_properties(url: str, exchange: str, routing_key: str, body: bytes, properties: bytes) -> None:
    """Publish ``body`` with a content header whose properties are exactly ``properties`` (see basic_properties)."""
    with Connection(url) as connection:
        channel: Any = connection.channel()
        channel.confirm_select()
        channel.basic_publish(RawPropertiesMessage(body, properties), exchange=exchange, routing_key=routing_key)
        channel.close()
