"""The consumer side that kombu gives both built-in transports: one connection per session, one channel, a kombu
consumer per subscription with manual acks. The AMQP and memory consumers differ in how they connect and
declare (``_prepare`` and ``_declare``), not in how they receive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import kombu
from kombu.message import Message as KombuMessage

from outbox import topology
from outbox.broker_nodes import BrokerNodes, BrokerURL
from outbox.transports.base import Received, Subscription
from outbox.wire import Delivery


class KombuConsumer:
    """:class:`outbox.transports.base.Consumer` over a kombu connection; subclasses say how to declare."""

    def __init__(self, url: BrokerURL, *, prefetch: int, heartbeat: int | None = None) -> None:
        self.url = url
        self.nodes = BrokerNodes(url)  # a cluster's nodes: each session connects to one that answers
        self.prefetch = prefetch
        self.heartbeat = heartbeat
        probe = self.nodes.probe()  # lazy: only tells which errors its driver raises
        self.lost_errors: tuple[type[BaseException], ...] = (OSError, *probe.connection_errors)
        self.refused_errors: tuple[type[BaseException], ...] = tuple(probe.channel_errors)
        self.uri = self.nodes.describe()  # the passwords masked
        self._connection: kombu.Connection | None = None
        self._consumers: list[kombu.Consumer] = []
        self._delivered = 0  # deliveries handed over this session

    def open(self, exchange: str, subscriptions: Sequence[Subscription],
             on_delivery: Callable[[Received], None]) -> None:
        self._connection = connection = self.nodes.connect(heartbeat=self.heartbeat or 0)
        channel: Any = connection.channel()
        self._prepare(channel)
        channel.basic_qos(0, self.prefetch, False)
        for subscription, queue in self._declare(connection, channel, exchange, subscriptions):
            consumer = kombu.Consumer(channel, queues=[queue], on_message=self._handler(subscription, on_delivery),
                                      no_ack=False, auto_declare=True)
            self._consumers.append(consumer)
            consumer.consume()

    def _prepare(self, channel: Any) -> None:
        """Set up the new channel before anything is declared or consumed (nothing by default)."""

    def _declare(self, connection: kombu.Connection, channel: Any, exchange: str,
                 subscriptions: Sequence[Subscription]) -> list[tuple[Subscription, kombu.Queue]]:
        """Declare the exchange and the queues with their bindings; returns each subscription's queue."""
        raise NotImplementedError

    def _handler(self, subscription: Subscription,
                 on_delivery: Callable[[Received], None]) -> Callable[[KombuMessage], None]:
        def on_message(message: KombuMessage) -> None:
            self._delivered += 1
            redelivered = bool(message.delivery_info.get("redelivered"))
            on_delivery(Received(to_delivery(message), subscription, message, redelivered))

        return on_message

    def drain(self, timeout: float, enough: Callable[[int], bool]) -> int:
        """Waits in slices of half a heartbeat and checks the heartbeat after each (sending ours when due):
        raises a connection error once the broker's have stopped arriving for two intervals."""
        connection = self._connection
        assert connection is not None, "drain() before open()"
        deadline = time.monotonic() + timeout
        beat = connection.get_heartbeat_interval() / 2 or timeout
        before = self._delivered
        while not enough(self._delivered - before):
            remaining = 0.0 if self._delivered > before else deadline - time.monotonic()
            wait = max(0.001, min(remaining, beat))
            try:
                connection.drain_events(timeout=wait)
                timed_out = False
            except TimeoutError:
                timed_out = True
            connection.heartbeat_check()  # after reading, so that the frames just read count as signs of life
            if timed_out and wait >= remaining:
                break
        return self._delivered - before

    def ack(self, received: Received) -> None:
        received.handle.ack()

    def reject(self, received: Received, *, requeue: bool = False) -> None:
        received.handle.reject(requeue=requeue)

    def close(self, *, lost: bool = False) -> None:
        connection, consumers = self._connection, self._consumers
        self._connection, self._consumers = None, []
        if connection is None:
            return
        try:
            if not lost:  # basic.cancel on a lost connection would wait for a reply that never comes
                for consumer in consumers:
                    consumer.cancel()
        except self.lost_errors:
            lost = True  # lost while cancelling: the closing handshake would not be answered either
            raise
        finally:
            connection.collect() if lost else connection.release()


def to_delivery(message: KombuMessage) -> Delivery:
    """A kombu message as a transport-independent :class:`Delivery`, without decoding its body."""
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode("utf-8")
    properties: dict[str, Any] = dict(message.properties or {})
    properties["content_type"] = message.content_type or properties.get("content_type")
    properties["content_encoding"] = message.content_encoding or properties.get("content_encoding")
    headers = dict(message.headers or {})
    properties.pop("application_headers", None)
    return Delivery(body, str(message.delivery_info.get("routing_key") or ""), properties, headers)


def kombu_queue(subscription: Subscription, exchange_name: str, arguments: dict[str, Any] | None = None, *,
                declared: bool = False) -> kombu.Queue:
    """The subscription's queue as kombu declares it, bound to the topic exchange ``exchange_name`` (declared as
    the relay declares it), with the broker's declare ``arguments``. ``declared``: the caller declares the
    exchange and the queue itself, so kombu only consumes it."""
    exchange = topology.topic_exchange(exchange_name, declared=declared)
    return kombu.Queue(subscription.name, exchange=exchange,
                       bindings=[kombu.binding(exchange, routing_key=p) for p in subscription.patterns],
                       durable=True, auto_delete=False, queue_arguments=arguments or None, no_declare=declared)
