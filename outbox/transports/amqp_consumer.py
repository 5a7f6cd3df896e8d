"""Consuming from RabbitMQ: the exchange declared as the relay declares it, quorum (or classic) queues with their
bindings, the ordered one single-active-consumer, heartbeats, and received messages read as they were sent
(no decompression by kombu, the frame guards of ``amqp_frames.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import kombu
from amqp.exceptions import PreconditionFailed
from kombu.transport import pyamqp

from outbox import topology
from outbox.transports.amqp_frames import guard_frames
from outbox.transports.base import Subscription
from outbox.transports.kombu_consumer import KombuConsumer, kombu_queue
from outbox.wire import COMPRESSION_HEADER

logger = logging.getLogger(__name__)


class AmqpConsumer(KombuConsumer):
    """:class:`outbox.transports.base.Consumer` on RabbitMQ (py-amqp through kombu)."""

    def _prepare(self, channel: Any) -> None:
        keep_bodies_as_sent(channel)
        guard_frames(channel)

    def _declare(self, connection: kombu.Connection, channel: Any, exchange: str,
                 subscriptions: Sequence[Subscription]) -> list[tuple[Subscription, kombu.Queue]]:
        """Declare the exchange and the queues with their bindings, each as it is when an older version
        declared it otherwise (see :func:`declare_queue`)."""
        topology.declare(connection.channel, channel, exchange)
        queues = kombu_queues(subscriptions, exchange, declared=True)
        for subscription, queue in queues:
            declare_queue(connection.channel, channel, queue, subscription.queue_type)
        return queues


def kombu_queues(subscriptions: Sequence[Subscription], exchange: str, *,
                 declared: bool = False) -> list[tuple[Subscription, kombu.Queue]]:
    """Each subscription with its queue as the consumer declares it on RabbitMQ (also for tools and tests that
    declare the queues before a consumer runs). ``declared``: see :func:`kombu_queue`."""
    return [(s, kombu_queue(s, exchange, queue_arguments(s), declared=declared)) for s in subscriptions]


def queue_arguments(subscription: Subscription) -> dict[str, Any]:
    """RabbitMQ's declare arguments of the subscription's queue: its type (none for "classic", so that classic
    queues of older versions still match), single active consumer for the ordered one (with quorum queues,
    RabbitMQ 3.10+ keeps one consumer at a time all the same)."""
    classic = subscription.queue_type == "classic"
    arguments: dict[str, Any] = {} if classic else {"x-queue-type": subscription.queue_type}
    if subscription.ordered:
        arguments["x-single-active-consumer"] = True
    return arguments


def declare_queue(open_channel: Callable[[], Any], channel: Any, queue: kombu.Queue, queue_type: str) -> bool:
    """Declare ``queue`` and bind it on ``channel``; returns False when it exists with other arguments (a
    classic queue of an older version where ``queue_type`` (INBOX_QUEUE_TYPE) asks for a quorum queue, or the
    reverse).

    RabbitMQ refuses such a declaration and closes the channel that asked, so the queue is declared on a
    channel of its own (``open_channel()``). An existing queue is then consumed as it is (binding does not
    depend on the type), and how to migrate is logged at ERROR: halting the consumer of a running service on
    upgrade would stop its work, not the queue's.
    """
    own = open_channel()
    try:
        own.queue_declare(queue.name, durable=True, auto_delete=False, arguments=queue.queue_arguments)
    except PreconditionFailed as exc:
        logger.error("queue %r exists on the broker with other arguments than INBOX_QUEUE_TYPE=%r asks for (%s): "
                     "consuming it as it is. Set INBOX_QUEUE_TYPE='classic' to keep the classic queue, or migrate "
                     "it to a quorum queue: see 'Migrating classic queues to quorum' in docs/operations.md.",
                     queue.name, queue_type, exc.reply_text, extra={"action": "inbox_queue_type_mismatch"})
        matched = False
    else:
        own.close()
        matched = True
    for rule in queue.bindings:
        assert rule.exchange is not None
        channel.queue_bind(queue.name, rule.exchange.name, rule.routing_key)
    return matched


class SentMessage(pyamqp.Message):
    """A received message whose body is the bytes that were sent.

    kombu's Message decompresses a body with a ``compression`` header while it is built, before any
    check: a small zlib bomb is expanded in memory, and an unknown compression raises out of the
    consumer (the unacked message then stops the next worker too). The header is hidden from that
    step, so decoding refuses compressed bodies on the bytes as sent.
    """

    def __init__(self, msg: Any, channel: Any = None, **kwargs: Any) -> None:
        headers = msg.properties.get("application_headers")
        compression = headers.pop(COMPRESSION_HEADER, None) if isinstance(headers, dict) else None
        super().__init__(msg, channel=channel, **kwargs)
        if compression is not None:
            headers[COMPRESSION_HEADER] = compression
            self.headers = headers


def keep_bodies_as_sent(channel: Any) -> None:
    """Build this channel's received messages as :class:`SentMessage` (on py-amqp, RabbitMQ's transport)."""
    if isinstance(channel, pyamqp.Channel):
        channel.Message = SentMessage
