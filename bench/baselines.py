"""Raw RabbitMQ publish baselines (denominators for the relay benchmarks).

Run: ``python bench/baselines.py --count 10000 --runs 5``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from urllib.parse import unquote, urlparse

import amqp
from kombu import Connection, Exchange, Producer, Queue

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672//"
EXCHANGE = "bench.events"
QUEUE = "bench.baseline"
ROUTING_KEY = "bench.event"
DRAIN_TIMEOUT = 10.0


def _body(seq: int, size: int) -> bytes:
    """Return a JSON document of roughly ``size`` bytes."""
    head = json.dumps({"seq": seq, "pad": ""})
    return json.dumps({"seq": seq, "pad": "x" * max(0, size - len(head))}).encode()


def _amqp_connect(url: str) -> amqp.Connection:
    """Open a connected py-amqp connection from an ``amqp://`` URL."""
    parts = urlparse(url)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    conn = amqp.Connection(
        host=f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        userid=unquote(parts.username or "guest"),
        password=unquote(parts.password or "guest"),
        virtual_host=vhost,
    )
    conn.connect()
    return conn


def _declare(channel: amqp.Channel) -> None:
    """Declare the durable topic exchange and bound queue, then purge it."""
    channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
    channel.queue_declare(QUEUE, durable=True, auto_delete=False)
    channel.queue_bind(QUEUE, EXCHANGE, "#")
    channel.queue_purge(QUEUE)


class _Confirms:
    """Track unconfirmed delivery tags of one confirm-mode channel."""

    def __init__(self) -> None:
        self.unconfirmed: set[int] = set()
        self.nacked = 0
        self.multiple_acks = 0

    def on_ack(self, delivery_tag: int, multiple: bool) -> None:
        """Handle basic.ack: ``multiple`` confirms every tag <= delivery_tag."""
        if multiple:
            self.multiple_acks += 1
            self.unconfirmed = {t for t in self.unconfirmed if t > delivery_tag}
        else:
            self.unconfirmed.discard(delivery_tag)

    def on_nack(self, delivery_tag: int, multiple: bool) -> None:
        """Handle basic.nack: count it, then settle the tags like an ack."""
        before = len(self.unconfirmed)
        self.on_ack(delivery_tag, multiple)
        self.nacked += before - len(self.unconfirmed)


def _drain_until(conn: amqp.Connection, done: Callable[[], bool]) -> None:
    """Process incoming frames until ``done()`` is true."""
    while not done():
        conn.drain_events(timeout=DRAIN_TIMEOUT)


def b_stream(url: str, count: int, window: int = 256, body_size: int = 1024) -> float:
    """Publish ``count`` confirmed messages with py-amqp, ``window`` in flight.

    Returns messages/second from the first publish to the last confirm.
    """
    bodies = [_body(i, body_size) for i in range(count)]
    return _stream(url, (amqp.Message(body, content_type="application/json", delivery_mode=2) for body in bodies),
                   count, window)


def b_stream_wire(url: str, count: int, window: int = 256, body_size: int = 1024) -> float:
    """B_stream with the relay's message instead of a bare one: the same 7 properties and
    ``cloudEvents:*`` headers the relay sends, encoded before the clock starts.

    Not a goal's denominator: it tells how much of the gap between R and B_stream is the broker's
    cost of the richer message (RabbitMQ parses and stores it) rather than the relay's own work.
    """
    from outbox.transports.amqp_properties import PrebuiltMessage, encode

    messages = [PrebuiltMessage(_body(i, body_size), encode(*_relay_like_properties(i))) for i in range(count)]
    return _stream(url, iter(messages), count, window)


def _stream(url: str, messages: Iterator[amqp.Message], count: int, window: int) -> float:
    """msg/s of publishing ``count`` messages on one confirm-mode channel with ``window`` in flight."""
    conn = _amqp_connect(url)
    try:
        channel = conn.channel()
        channel.confirm_select()
        _declare(channel)
        confirms = _Confirms()
        channel.events["basic_ack"].add(confirms.on_ack)
        channel.events["basic_nack"].add(confirms.on_nack)
        start = time.perf_counter()
        for tag, msg in enumerate(messages, start=1):
            _drain_until(conn, lambda: len(confirms.unconfirmed) < window)
            confirms.unconfirmed.add(tag)
            channel.basic_publish(msg, EXCHANGE, ROUTING_KEY, mandatory=True)
        _drain_until(conn, lambda: not confirms.unconfirmed)
        elapsed = time.perf_counter() - start
        if confirms.nacked:
            raise RuntimeError(f"{confirms.nacked} messages nacked by the broker")
        channel.queue_purge(QUEUE)
        return count / elapsed
    finally:
        conn.close()


def _relay_like_properties(seq: int) -> tuple[dict[str, object], dict[str, object]]:
    """Properties and headers shaped like the relay's for an unkeyed message (see outbox/wire.py)."""
    import uuid
    from datetime import datetime, timezone

    message_id, now = str(uuid.uuid4()), datetime.now(timezone.utc)
    properties = {"content_type": "application/json", "content_encoding": "utf-8", "delivery_mode": 2,
                  "message_id": message_id, "timestamp": int(now.timestamp()), "type": ROUTING_KEY,
                  "correlation_id": message_id}
    headers = {"cloudEvents:specversion": "1.0", "cloudEvents:id": message_id, "cloudEvents:source": "/bench",
               "cloudEvents:type": ROUTING_KEY, "cloudEvents:time": now.isoformat()}
    return properties, headers


def b_sync(url: str, count: int, body_size: int = 1024) -> float:
    """Publish ``count`` messages with kombu, waiting for each confirm.

    Returns messages/second over the publishing loop.
    """
    exchange = Exchange(EXCHANGE, "topic", durable=True)
    queue = Queue(QUEUE, exchange, routing_key="#", durable=True)
    with Connection(url, transport_options={"confirm_publish": True}) as conn:
        bound = queue(conn.default_channel)
        bound.declare()
        bound.purge()
        producer = Producer(conn.default_channel, exchange=exchange)
        bodies = [_body(i, body_size) for i in range(count)]
        start = time.perf_counter()
        for body in bodies:
            producer.publish(
                body,
                routing_key=ROUTING_KEY,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                mandatory=True,
            )
        elapsed = time.perf_counter() - start
        bound.purge()
    return count / elapsed


def main() -> None:
    """Print the median msg/s of each baseline over several runs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    benches: dict[str, Callable[[str, int], float]] = {"b_stream": b_stream, "b_sync": b_sync}
    for name, bench in benches.items():
        rates = [bench(args.url, args.count) for _ in range(args.runs)]
        runs = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{name}: median {statistics.median(rates):.0f} msg/s (runs: {runs})")


if __name__ == "__main__":
    main()
