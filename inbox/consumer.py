"""The consumer worker: broker → inbox. Declares the service's queues, consumes with manual acks,
and runs due delayed retries between deliveries (new messages first, retries every round).

Two queues: ``INBOX_QUEUE`` for ordinary handlers, and ``INBOX_QUEUE.ordered`` for handlers that
asked for per-key order. The latter is a single-active-consumer queue: with several workers one
consumes it at a time (the others stand by), so a key's messages are applied in broker order.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from amqp.exceptions import PreconditionFailed
from django.db import DatabaseError, close_old_connections
from kombu import Connection, Queue, binding
from kombu import Consumer as KombuConsumer
from kombu.message import Message as KombuMessage
from kombu.transport import pyamqp

from inbox.conf import inbox_settings
from inbox.decoding import Delivery, decode
from inbox.exceptions import BrokerRefused, DatabaseUnavailable, InboxError, RejectedMessage
from inbox.frames import guard_frames
from inbox.processing import Outcome, Processor
from inbox.registry import Registry, registry
from outbox import topology
from outbox.broker_nodes import BrokerNodes, BrokerURL
from outbox.conf import outbox_settings

logger = logging.getLogger(__name__)


@dataclass
class ConsumeStats:
    """Counts since the worker started, by outcome."""

    outcomes: dict[str, int] = field(default_factory=dict)
    retries_run: int = 0

    def add(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


def queues_for(handlers: Registry, queue_name: str, exchange_name: str, *,
               declared: bool = False) -> list[tuple[Queue, bool]]:
    """The queues this service consumes, each with its bindings, and whether it is the ordered one.
    ``declared``: the caller declares the exchange (:func:`outbox.topology.declare`) and the queues
    (:func:`declare_queue`), so kombu only consumes them.

    Both are of type INBOX_QUEUE_TYPE: quorum queues (durable, never exclusive or auto-deleted) by default,
    whose single-active-consumer mode keeps the ordered queue's one-consumer-at-a-time order (RabbitMQ 3.10+);
    "classic" declares them as before, with no ``x-queue-type``, so existing classic queues still match.
    """
    # Declared as the relay declares it (same arguments), unless it was already.
    exchange = topology.topic_exchange(exchange_name, declared=declared)
    typed = {} if inbox_settings.QUEUE_TYPE == "classic" else {"x-queue-type": inbox_settings.QUEUE_TYPE}
    result = []
    for ordered, name, arguments in ((False, queue_name, typed),
                                     (True, f"{queue_name}.ordered", {**typed, "x-single-active-consumer": True})):
        patterns = handlers.patterns(ordered=ordered)
        if patterns:
            queue = Queue(name, exchange=exchange, bindings=[binding(exchange, routing_key=p) for p in patterns],
                          durable=True, auto_delete=False, queue_arguments=arguments or None, no_declare=declared)
            result.append((queue, ordered))
    return result


class InboxConsumer:
    """Consumes this service's queues until ``stop`` is set (or, with ``once``, until idle)."""

    def __init__(self, processor: Processor | None = None, *, url: BrokerURL | None = None, queue: str | None = None,
                 prefetch: int | None = None, stop: threading.Event | None = None,
                 handlers: Registry = registry) -> None:
        self.processor = processor or Processor(handlers)
        self.registry = handlers
        self.url = url or inbox_settings.BROKER_URL or ""
        self.queue_name = queue or inbox_settings.QUEUE
        self.prefetch = prefetch or inbox_settings.PREFETCH
        self.stop = stop or threading.Event()
        self.stats = ConsumeStats()
        self._received = 0
        self._consuming = False  # the current session got as far as consuming
        self._giving_back = False  # the current session ends after a database error: process nothing more
        if not self.url:
            raise InboxError("no broker URL: set INBOX_BROKER_URL or OUTBOX_BROKER_URL")
        self.nodes = BrokerNodes(self.url)  # a cluster's nodes: each session connects to one that answers
        probe = self.nodes.probe()  # lazy: only tells which errors its driver raises
        self._connection_errors: tuple[type[BaseException], ...] = (OSError, *probe.connection_errors)
        self._refusals: tuple[type[BaseException], ...] = tuple(probe.channel_errors)
        self._uri = self.nodes.describe()  # the passwords masked, for error messages

    def run(self, *, once: bool = False, idle_timeout: float = 1.0) -> ConsumeStats:
        """Consume until stopped; with ``once``, until the queues and the due retries are empty.

        Raises :class:`BrokerRefused` when the broker refuses us (a login or a declaration): retrying the
        same request cannot help, unlike a lost connection, which is retried with back-off.
        """
        try:
            return self._run(once, idle_timeout)
        except self._refusals as exc:
            raise BrokerRefused(f"the broker at {self._uri} refused the consumer: {exc}") from exc

    def _run(self, once: bool, idle_timeout: float) -> ConsumeStats:
        backoff = 0.0
        while not self.stop.is_set():
            self._consuming = self._giving_back = False
            try:
                self._session(once, idle_timeout)
                return self.stats
            except DatabaseUnavailable:
                self.stop.wait(1.0)  # the broker took back every unacked message, in queue order
            except self._connection_errors as exc:
                # Back off while reconnecting fails; a connection that worked starts the back-off again.
                backoff = min(30.0, max(0.5, 0.0 if self._consuming else backoff * 2))
                logger.warning("broker connection lost (%s), reconnecting in %.1fs", exc, backoff,
                               extra={"action": "inbox_broker_lost"})
                self.stop.wait(backoff)
        return self.stats

    def _session(self, once: bool, idle_timeout: float) -> None:
        with self._connection() as connection:
            channel: Any = connection.channel()
            keep_bodies_as_sent(channel)
            guard_frames(channel)
            channel.basic_qos(0, self.prefetch, False)
            consumers = self._consumers(connection, channel)
            for consumer in consumers:
                consumer.consume()
            self._consuming = True
            logger.info("inbox consumer started on %s", self.queue_name, extra={"action": "inbox_start"})
            try:
                self._loop(connection, once, idle_timeout)
            except self._connection_errors:
                raise  # the connection is gone: basic.cancel would wait for a reply that never comes
            except BaseException:
                _cancel(consumers)
                raise
            _cancel(consumers)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A broker connection with heartbeats (INBOX_HEARTBEAT), closed at the end; one that failed is
        dropped without the closing handshake, which a half-open connection would never answer."""
        connection = self.nodes.connect(heartbeat=inbox_settings.HEARTBEAT)
        lost = False
        try:
            yield connection
        except self._connection_errors:
            lost = True
            raise
        finally:
            connection.collect() if lost else connection.release()

    def _consumers(self, connection: Connection, channel: Any) -> list[KombuConsumer]:
        """Declare the exchange and this service's queues with their bindings (each as it is when an older
        version declared it otherwise: see :func:`declare_queue`), and a consumer on each queue."""
        exchange = outbox_settings.EXCHANGE
        topology.declare(connection.channel, channel, exchange)
        consumers = []
        for queue, ordered in queues_for(self.registry, self.queue_name, exchange, declared=True):
            declare_queue(connection.channel, channel, queue)
            consumers.append(KombuConsumer(channel, queues=[queue], on_message=self._handler(ordered),
                                           no_ack=False, auto_declare=True))
        return consumers

    def _loop(self, connection: Connection, once: bool, idle_timeout: float) -> None:
        ran = 0
        while not self.stop.is_set():
            close_old_connections()
            # Retries still in hand (the last round hit its budget): look at the queue without waiting.
            wait = idle_timeout if once else min(idle_timeout, inbox_settings.POLL_INTERVAL)
            received = self._drain(connection, 0.0 if ran >= inbox_settings.RETRY_BATCH else wait)
            ran = self._run_retries()
            if once and not received and not ran:
                return

    def _drain(self, connection: Connection, timeout: float) -> int:
        """Process the deliveries that arrive within ``timeout`` (at most a prefetch's worth); returns how many.

        Waits in slices of half a heartbeat and checks the heartbeat after each (sending ours when due):
        raises a connection error once the broker's have stopped arriving for two intervals.
        """
        before = self._received
        deadline = time.monotonic() + timeout
        beat = connection.get_heartbeat_interval() / 2 or timeout
        while self._received - before < self.prefetch and not self.stop.is_set():
            remaining = deadline - time.monotonic() if self._received == before else 0.0
            wait = max(0.001, min(remaining, beat))
            try:
                connection.drain_events(timeout=wait)
                timed_out = False
            except TimeoutError:
                timed_out = True
            connection.heartbeat_check()  # after reading, so that the frames just read count as signs of life
            if timed_out and wait >= remaining:
                break
        return self._received - before

    def _run_retries(self) -> int:
        try:
            ran = self.processor.retry_due()
        except DatabaseError as exc:
            logger.warning("database unavailable for retries: %s", exc, extra={"action": "inbox_db_error"})
            self.stop.wait(1.0)
            return 0
        self.stats.retries_run += ran
        return ran

    def _handler(self, ordered: bool) -> Any:
        def on_message(message: KombuMessage) -> None:
            self._received += 1
            self._on_message(message, ordered)

        return on_message

    def _on_message(self, message: KombuMessage, ordered: bool) -> None:
        if self._giving_back:
            return  # delivered while the session ends (basic.cancel): left unacked, the broker requeues it
        delivery = to_delivery(message)
        try:
            for outcome in self.handle_safely(delivery, ordered):
                self.stats.add(outcome)
        except DatabaseError as exc:
            # Nothing was committed for the failing handler. End the session: closing the channel gives this
            # message back together with those prefetched behind it, in queue order. Requeuing it alone let
            # the worker apply a later message of its key first, and the broker redelivered it behind them.
            logger.warning("database unavailable, message %s requeued: %s", delivery.message_id, exc,
                           extra={"action": "inbox_db_error", "message_id": delivery.message_id})
            close_old_connections()
            self._giving_back = True
            raise DatabaseUnavailable(str(exc)) from exc
        message.ack()

    def handle(self, delivery: Delivery, ordered: bool = False) -> list[Outcome]:
        """Decode, then apply to every matching handler of this queue; rejects bad input (as dead), parks
        a message no handler here takes (see :meth:`Processor.park`).

        Returns one outcome per handler ([REJECTED] for a refused message, [PARKED]). Raises DatabaseError
        when the database is down (the caller must not ack then).
        """
        try:
            message = decode(delivery, inbox_settings.MAX_BODY_BYTES)
        except RejectedMessage as exc:
            return [self.processor.reject(delivery, str(exc))]
        handlers = self.registry.for_topic(message.topic, ordered=ordered)
        if not handlers:
            return [self.processor.park(message)]
        return [self.processor.deliver(message, spec) for spec in handlers]

    def handle_safely(self, delivery: Delivery, ordered: bool = False) -> list[Outcome]:
        """:meth:`handle`, with any error but the database's recorded as the message's death (then it is acked):
        a message that crashes the worker would crash every worker it is redelivered to."""
        try:
            return self.handle(delivery, ordered)
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - the top of per-message handling: record, ack, carry on
            return [self.processor.reject(delivery, f"processing crashed: {type(exc).__name__}: {exc}", exc)]


class SentMessage(pyamqp.Message):
    """A received message whose body is the bytes that were sent.

    kombu's Message decompresses a body with a ``compression`` header while it is built, before any
    check: a small zlib bomb is expanded in memory, and an unknown compression raises out of the
    consumer (the unacked message then stops the next worker too). The header is hidden from that
    step, so decoding refuses compressed bodies on the bytes as sent.
    """

    def __init__(self, msg: Any, channel: Any = None, **kwargs: Any) -> None:
        headers = msg.properties.get("application_headers")
        compression = headers.pop("compression", None) if isinstance(headers, dict) else None
        super().__init__(msg, channel=channel, **kwargs)
        if compression is not None:
            headers["compression"] = compression
            self.headers = headers


def _cancel(consumers: list[KombuConsumer]) -> None:
    for consumer in consumers:
        consumer.cancel()


def declare_queue(open_channel: Any, channel: Any, queue: Queue) -> bool:
    """Declare ``queue`` and bind it on ``channel``; returns False when it exists with other arguments (a
    classic queue of an older version where INBOX_QUEUE_TYPE asks for a quorum queue, or the reverse).

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
                     queue.name, inbox_settings.QUEUE_TYPE, exc.reply_text,
                     extra={"action": "inbox_queue_type_mismatch"})
        matched = False
    else:
        own.close()
        matched = True
    for rule in queue.bindings:
        assert rule.exchange is not None
        channel.queue_bind(queue.name, rule.exchange.name, rule.routing_key)
    return matched


def keep_bodies_as_sent(channel: Any) -> None:
    """Build this channel's received messages as :class:`SentMessage` (on py-amqp, RabbitMQ's transport)."""
    if isinstance(channel, pyamqp.Channel):
        channel.Message = SentMessage


def to_delivery(message: KombuMessage) -> Delivery:
    """A kombu message as a transport-independent :class:`Delivery`, without decoding its body."""
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode("utf-8")
    properties: dict[str, Any] = dict(message.properties or {})
    properties["content_type"] = message.content_type or properties.get("content_type")
    properties["content_encoding"] = message.content_encoding or properties.get("content_encoding")
    headers = dict(message.headers or {})
    properties.pop("application_headers", None)
    return Delivery(body, str(message.delivery_info.get("routing_key") or ""), properties, headers)
