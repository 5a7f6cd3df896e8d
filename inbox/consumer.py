"""The consumer worker: broker → inbox. Declares the service's queues, consumes with manual acks,
and runs due delayed retries between deliveries (new messages first, retries every round).

Two queues: ``INBOX_QUEUE`` for ordinary handlers, and ``INBOX_QUEUE.ordered`` for handlers that
asked for per-key order. The latter is a single-active-consumer queue: with several workers one
consumes it at a time (the others stand by), so a key's messages are applied in broker order.
The broker is behind :class:`outbox.transports.base.Consumer`, chosen by the URL's scheme.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from django.db import DatabaseError, close_old_connections

from inbox.conf import inbox_settings
from inbox.decoding import decode
from inbox.exceptions import BrokerRefused, DatabaseUnavailable, InboxError, RejectedMessage
from inbox.processing import Outcome, Processor
from inbox.registry import Registry, registry
from outbox.broker_nodes import BrokerURL
from outbox.conf import outbox_settings
from outbox.transports.base import Received, Subscription
from outbox.transports.registry import consumer_for_url
from outbox.wire import Delivery

logger = logging.getLogger(__name__)


@dataclass
class ConsumeStats:
    """Counts since the worker started, by outcome."""

    outcomes: dict[str, int] = field(default_factory=dict)
    retries_run: int = 0

    def add(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


def subscriptions_for(handlers: Registry, queue_name: str) -> list[Subscription]:
    """The queues this service consumes, each with its bindings: ``queue_name`` for ordinary handlers and
    ``<queue_name>.ordered`` (one consumer at a time) for ordered ones; a queue without handlers is left out.

    The first is of type INBOX_QUEUE_TYPE (quorum by default: replicated), the ordered one of type
    INBOX_ORDERED_QUEUE_TYPE (classic by default: a quorum queue on RabbitMQ 3.10 puts the messages of a dead
    consumer back behind later ones, out of key order). "classic" declares a queue as before, with no
    ``x-queue-type``, so existing classic queues still match.
    """
    result = []
    for ordered, name, queue_type in ((False, queue_name, inbox_settings.QUEUE_TYPE),
                                      (True, f"{queue_name}.ordered", inbox_settings.ORDERED_QUEUE_TYPE)):
        patterns = handlers.patterns(ordered=ordered)
        if patterns:
            result.append(Subscription(name, tuple(patterns), ordered, queue_type))
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
        self._consuming = False  # the current session got as far as consuming
        self._giving_back = False  # the current session ends after a database error: process nothing more
        if not self.url:
            raise InboxError("no broker URL: set INBOX_BROKER_URL or OUTBOX_BROKER_URL")
        self.broker = consumer_for_url(self.url, prefetch=self.prefetch, heartbeat=inbox_settings.HEARTBEAT)

    def run(self, *, once: bool = False, idle_timeout: float = 1.0) -> ConsumeStats:
        """Consume until stopped; with ``once``, until the queues and the due retries are empty.

        Raises :class:`BrokerRefused` when the broker refuses us (a login or a declaration): retrying the
        same request cannot help, unlike a lost connection, which is retried with back-off.
        """
        try:
            return self._run(once, idle_timeout)
        except self.broker.refused_errors as exc:
            raise BrokerRefused(f"the broker at {self.broker.uri} refused the consumer: {exc}") from exc

    def _run(self, once: bool, idle_timeout: float) -> ConsumeStats:
        backoff = 0.0
        while not self.stop.is_set():
            self._consuming = self._giving_back = False
            try:
                self._session(once, idle_timeout)
                return self.stats
            except DatabaseUnavailable:
                self.stop.wait(1.0)  # the broker took back every unacked message, in queue order
            except self.broker.lost_errors as exc:
                # Back off while reconnecting fails; a connection that worked starts the back-off again.
                backoff = min(30.0, max(0.5, 0.0 if self._consuming else backoff * 2))
                logger.warning("broker connection lost (%s), reconnecting in %.1fs", exc, backoff,
                               extra={"action": "inbox_broker_lost"})
                self.stop.wait(backoff)
        return self.stats

    def _session(self, once: bool, idle_timeout: float) -> None:
        """One broker session; ending it (cleanly or not) gives back what was not acked, in queue order."""
        try:
            self.broker.open(outbox_settings.EXCHANGE, subscriptions_for(self.registry, self.queue_name),
                             self._on_delivery)
            self._consuming = True
            logger.info("inbox consumer started on %s", self.queue_name, extra={"action": "inbox_start"})
            self._loop(once, idle_timeout)
        except self.broker.lost_errors:
            self.broker.close(lost=True)
            raise
        except BaseException:
            self.broker.close()
            raise
        self.broker.close()

    def _loop(self, once: bool, idle_timeout: float) -> None:
        ran = 0
        while not self.stop.is_set():
            close_old_connections()
            # Retries still in hand (the last round hit its budget): look at the queue without waiting.
            wait = idle_timeout if once else min(idle_timeout, inbox_settings.POLL_INTERVAL)
            received = self._drain(0.0 if ran >= inbox_settings.RETRY_BATCH else wait)
            ran = self._run_retries()
            if once and not received and not ran:
                return

    def _drain(self, timeout: float) -> int:
        """Process the deliveries that arrive within ``timeout`` (at most a prefetch's worth); returns how many."""
        return self.broker.drain(timeout, lambda count: count >= self.prefetch or self.stop.is_set())

    def _run_retries(self) -> int:
        try:
            ran = self.processor.retry_due()
        except DatabaseError as exc:
            logger.warning("database unavailable for retries: %s", exc, extra={"action": "inbox_db_error"})
            self.stop.wait(1.0)
            return 0
        self.stats.retries_run += ran
        return ran

    def _on_delivery(self, received: Received) -> None:
        if self._giving_back:
            return  # delivered while the session ends (basic.cancel): left unacked, the broker requeues it
        delivery = received.delivery
        try:
            for outcome in self.handle_safely(delivery, received.subscription.ordered):
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
        self.broker.ack(received)

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
