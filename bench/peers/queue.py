"""The broker side of a peer run: its own direct exchange and bound queue, their depth, their removal."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import amqp

from bench import baselines


class PeerQueue:
    """A durable direct exchange and a durable queue, both named ``name``, bound with the key ``name``.

    Celery declares its default queue exactly so (``task_default_queue`` = exchange = routing key), so the
    declarations agree whichever side comes first.
    """

    def __init__(self, broker_url: str, name: str) -> None:
        self.name = name
        self._conn = baselines._amqp_connect(broker_url)
        self._channel = self._conn.channel()

    def declare(self) -> None:
        self._channel.exchange_declare(self.name, "direct", durable=True, auto_delete=False)
        self._channel.queue_declare(self.name, durable=True, auto_delete=False)
        self._channel.queue_bind(self.name, self.name, self.name)

    def depth(self) -> int:
        """Messages ready in the queue (a passive declare: one round trip)."""
        return int(self._channel.queue_declare(self.name, passive=True).message_count)

    def purge(self) -> None:
        self._channel.queue_purge(self.name)

    def delete(self) -> None:
        """Remove the queue and the exchange (both were created by this run), then disconnect."""
        self._channel.queue_delete(self.name)
        self._channel.exchange_delete(self.name)
        self._conn.close()


def exists(broker_url: str, exchange: str) -> bool:
    """Whether ``exchange`` is declared on the broker (a passive declare on a throwaway channel)."""
    conn = baselines._amqp_connect(broker_url)
    try:
        conn.channel().exchange_declare(exchange, "topic", passive=True)
        return True
    except amqp.exceptions.NotFound:
        return False
    finally:
        conn.close()


def delete_all(broker_url: str, queues: list[str], exchanges: list[str]) -> None:
    """Delete these queues and exchanges (only call it for what this run declared)."""
    conn = baselines._amqp_connect(broker_url)
    try:
        channel = conn.channel()
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)
    finally:
        conn.close()


def listening(broker_url: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``port`` of the broker's host."""
    host = urlsplit(broker_url).hostname or "127.0.0.1"
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False
