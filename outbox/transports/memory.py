"""kombu's in-process broker (``memory://``, process-global) behind both interfaces: the embedded default and tests.

It routes like a topic exchange and confirms at once, so publishing is never in flight; it has no alternate
exchanges, so the unrouted queue is emulated (see :meth:`MemoryTransport.publish`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import kombu
from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import ChannelError
from kombu.message import Message

from outbox import topology
from outbox.broker_nodes import BrokerURL, node_urls
from outbox.limits import SizeLimits
from outbox.transports.base import PublishReport, Received, Subscription, Transport
from outbox.transports.kombu_consumer import KombuConsumer, kombu_queue
from outbox.wire import Envelope


class MemoryTransport(Transport):
    """kombu's in-memory broker (process-global): routes like a topic exchange, confirms at once."""

    def __init__(self, url: BrokerURL = "memory://", *, window: int = 0) -> None:  # window: confirms come at once
        self.on_wait: Callable[[], None] | None = None  # never waits: confirms at once
        self._connection = Connection((node_urls(url) or ["memory://"])[0])
        self._declared: set[str] = set()

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport:
        channel = self._connection.default_channel
        target = topology.topic_exchange(exchange) if exchange else Exchange(exchange, "direct", durable=True)
        if exchange and exchange not in self._declared:
            target.declare(channel=channel)
            self._declared.add(exchange)
        report, routed = PublishReport(), Producer(channel, exchange=target)
        limits = SizeLimits.from_settings()
        for envelope in envelopes:
            problem = limits.envelope_problem(envelope)
            if problem is not None:
                report.rejected[envelope.message_id] = problem
                continue
            producer = routed
            if not _memory_routes(channel, exchange, envelope.routing_key):
                # kombu's memory broker has no alternate exchanges: do what RabbitMQ does with one.
                if topology.exchange_arguments(exchange):
                    producer = Producer(channel, exchange=self._unrouted(channel, exchange))
                elif mandatory:
                    report.failed[envelope.message_id] = f"unroutable: no queue bound for {envelope.routing_key!r}"
                    continue
            properties = {k: v for k, v in envelope.properties.items() if k not in ("content_type",
                                                                                     "content_encoding")}
            producer.publish(envelope.body, routing_key=envelope.routing_key, serializer=None,
                             content_type=envelope.properties["content_type"],
                             content_encoding=envelope.properties["content_encoding"],
                             headers=dict(envelope.headers), **properties)
            report.confirmed.append(envelope.message_id)
        return report

    @staticmethod
    def _unrouted(channel: Any, exchange: str) -> Exchange:
        name = topology.unrouted_name(exchange)
        unrouted = Exchange(name, "fanout", durable=True)
        Queue(name, unrouted, durable=True, auto_delete=False).declare(channel=channel)
        return unrouted

    def close(self) -> None:
        self._connection.release()


def _memory_routes(channel: Any, exchange: str, routing_key: str) -> list[str]:
    if not exchange:  # the default exchange routes to the queue named by the routing key, if it exists
        try:
            channel.queue_declare(routing_key, passive=True)
        except ChannelError:
            return []
        return [routing_key]
    try:
        return list(channel.typeof(exchange).lookup(channel.get_table(exchange), exchange, routing_key, None))
    except KeyError:
        return []


class MemoryConsumer(KombuConsumer):
    """The inbox's side of the memory broker: queues declared as kombu declares them.

    kombu's memory channel drops what was not acknowledged when it closes, and requeues at the tail: this
    consumer gives deliveries back itself, at the head of their queue in the order received and flagged
    redelivered, as RabbitMQ does when a channel closes.
    """

    def __init__(self, url: BrokerURL, *, prefetch: int, heartbeat: int | None = None) -> None:
        super().__init__(url, prefetch=prefetch, heartbeat=heartbeat)
        self._held: list[Received] = []  # handed over, neither acked nor rejected, in delivery order

    def _declare(self, connection: kombu.Connection, channel: Any, exchange: str,
                 subscriptions: Sequence[Subscription]) -> list[tuple[Subscription, Queue]]:
        return [(subscription, kombu_queue(subscription, exchange)) for subscription in subscriptions]

    def _handler(self, subscription: Subscription,
                 on_delivery: Callable[[Received], None]) -> Callable[[Message], None]:
        def holding(received: Received) -> None:
            self._held.append(received)
            on_delivery(received)

        return super()._handler(subscription, holding)

    def ack(self, received: Received) -> None:
        self._release(received)
        super().ack(received)

    def reject(self, received: Received, *, requeue: bool = False) -> None:
        self._release(received)
        if requeue:
            self._give_back([received])
        else:
            super().reject(received)

    def close(self, *, lost: bool = False) -> None:
        held, self._held = self._held, []
        self._give_back(held)  # nothing is lost in process: even a "lost" session gives back
        super().close(lost=lost)

    def _release(self, received: Received) -> None:
        self._held = [r for r in self._held if r is not received]

    @staticmethod
    def _give_back(deliveries: list[Received]) -> None:
        """Put ``deliveries`` back at the head of their queues, in this order, flagged redelivered."""
        for received in reversed(deliveries):
            message = received.handle
            payload = dict(message._raw)
            properties = payload["properties"] = dict(payload["properties"])
            properties["delivery_info"] = {**properties.get("delivery_info", {}), "redelivered": True}
            queue = message.channel._queue_for(received.subscription.name)
            with queue.mutex:
                queue.queue.appendleft(payload)
                queue.not_empty.notify()
            message.ack()  # forgotten by kombu's own bookkeeping: it is in the queue again
