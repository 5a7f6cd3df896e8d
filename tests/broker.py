"""Test helpers that talk to the real broker: a queue bound to an exchange, read back message by message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer, Queue
from kombu.message import Message

from outbox import topology


@dataclass
class Received:
    body: bytes
    properties: dict[str, Any]
    headers: dict[str, Any]
    routing_key: str
    content_type: str

    @property
    def message_id(self) -> str:
        return str(self.properties.get("message_id"))


class BoundQueue:
    """An auto-deleted queue bound to ``exchange``; ``take(n)`` waits for n messages (event-driven)."""

    def __init__(self, url: str, exchange: str, pattern: str = "#") -> None:
        self.connection = Connection(url)
        self.exchange = topology.topic_exchange(exchange)
        self.queue = Queue(f"test-{uuid.uuid4().hex[:12]}", self.exchange, routing_key=pattern,
                           auto_delete=True, durable=False)
        self.received: list[Received] = []
        self.consumer = Consumer(self.connection, queues=[self.queue], callbacks=[self._on_message],
                                 accept=["application/json"], no_ack=True)
        self.consumer.consume()

    def _on_message(self, body: Any, message: Message) -> None:
        self.received.append(Received(message.body, dict(message.properties), dict(message.headers or {}),
                                      message.delivery_info.get("routing_key", ""), message.content_type))

    def take(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` messages arrived in total (or the timeout), return all received."""
        import time

        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            try:
                self.connection.drain_events(timeout=min(0.5, max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                continue
        return list(self.received)

    def settle(self, quiet: float = 0.5) -> list[Received]:
        """Read until no message arrives for ``quiet`` seconds (to prove nothing more comes)."""
        while True:
            try:
                self.connection.drain_events(timeout=quiet)
            except TimeoutError:
                return list(self.received)

    def close(self) -> None:
        try:
            self.consumer.cancel()
        finally:
            self.connection.release()


def delete_exchange(url: str, name: str) -> None:
    """Delete a test's exchange, with its unrouted exchange and queue (see outbox/topology.py)."""
    with Connection(url) as connection:
        channel = connection.default_channel
        channel.exchange_delete(name)
        channel.exchange_delete(topology.unrouted_name(name))
        channel.queue_delete(topology.unrouted_name(name))


def take_unrouted(url: str, exchange: str) -> list[str]:
    """Message ids waiting in ``exchange``'s unrouted queue (consumed), in order; on RabbitMQ or ``memory://``."""
    ids = []
    with Connection(url) as connection:
        while (message := connection.default_channel.basic_get(topology.unrouted_name(exchange), no_ack=True)):
            ids.append(str(message.properties.get("message_id")))
    return ids

