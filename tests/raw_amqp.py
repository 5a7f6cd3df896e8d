"""Bytes and properties put on the real broker exactly as given (no kombu serializer in the way), and a look
at a queue's depth: for tests of what the inbox does with whatever a producer sends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import amqp
from kombu import Connection


def publish_raw(url: str, exchange: str, routing_key: str, body: bytes, *, count: int = 1,
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
