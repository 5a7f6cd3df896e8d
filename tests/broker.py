"""Test helpers that talk to the real broker: a queue bound to an exchange, read back message by message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Consumer, Exchange, Queue
from kombu.message import Message


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
        self.exchange = Exchange(exchange, "topic", durable=True)
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
