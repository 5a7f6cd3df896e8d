"""RabbitMQ side of the benchmarks: the bound, purged queue, and a consumer process that stamps receipts."""

from __future__ import annotations

import time
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Event

from bench import baselines


def prepare_queue(url: str) -> None:
    """Declare the exchange and its bound durable queue (routing key ``#``), then purge the queue."""
    conn = baselines._amqp_connect(url)
    try:
        baselines._declare(conn.channel())
    finally:
        conn.close()


def server_version(url: str) -> str:
    """RabbitMQ's version, from the connection's server properties."""
    conn = baselines._amqp_connect(url)
    try:
        return str(getattr(conn, "server_properties", {}).get("version", "unknown"))
    finally:
        conn.close()


def consume(url: str, ready: Event, stop: Event, out: Pipe) -> None:
    """Consume the bench queue until ``stop``; send back {message_id: receipt wall-clock time}."""
    receipts: dict[str, float] = {}
    conn = baselines._amqp_connect(url)
    channel = conn.channel()
    channel.basic_consume(baselines.QUEUE, no_ack=True,
                          callback=lambda msg: receipts.setdefault(str(msg.properties.get("message_id")),
                                                                   time.time()))
    ready.set()
    while not stop.is_set():
        try:
            conn.drain_events(timeout=0.1)
        except TimeoutError:
            continue
    out.send(receipts)
    conn.close()
