"""A queue on kombu's in-process broker (``memory://``), read back like tests.broker.BoundQueue."""

from __future__ import annotations

import queue as stdlib_queue
import uuid

from kombu import Connection, Queue

from outbox import topology
from tests.broker import Received


class MemoryBoundQueue:
    """A queue bound to ``exchange`` on the process-global memory broker; same ``take``/``settle`` as BoundQueue."""

    def __init__(self, exchange: str, pattern: str = "#", url: str = "memory://") -> None:
        self.connection = Connection(url)
        self.queue = Queue(f"test-{uuid.uuid4().hex[:12]}", topology.topic_exchange(exchange),
                           routing_key=pattern)
        self.simple = self.connection.SimpleQueue(self.queue)  # declares the exchange, the queue and the binding
        self.received: list[Received] = []

    def _read_one(self, timeout: float) -> bool:
        try:
            message = self.simple.get(block=True, timeout=timeout)
        except stdlib_queue.Empty:
            return False
        message.ack()
        self.received.append(Received(message.body if isinstance(message.body, bytes) else message.body.encode(),
                                      dict(message.properties), dict(message.headers or {}),
                                      message.delivery_info.get("routing_key", ""), message.content_type))
        return True

    def take(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Read until ``count`` messages arrived in total (or nothing more came within ``timeout``)."""
        while len(self.received) < count and self._read_one(timeout):
            pass
        return list(self.received)

    def settle(self, quiet: float = 0.2) -> list[Received]:
        """Read until no message arrives for ``quiet`` seconds."""
        while self._read_one(quiet):
            pass
        return list(self.received)

    def close(self) -> None:
        try:
            self.simple.close()
        finally:
            self.connection.release()
