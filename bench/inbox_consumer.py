"""The consumer under test for the inbox figures: the real ``InboxConsumer`` (what ``manage.py inbox_consume``
runs) with one bench handler whose effect is one row in ``bench_inbox_effect``, written in the handler's
transaction, so effects are counted from the database.

Two processors: the library's :class:`~inbox.processing.Processor` (dedup record + handler in one
transaction), and :class:`WithoutDedup`, the same handler in one transaction per message without the
inbox row: what a service would run without the inbox.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import connection, transaction

from bench.env import TOPIC, sql
from inbox.consumer import ConsumeStats, InboxConsumer
from inbox.message import Message
from inbox.processing import Outcome, Processor
from inbox.registry import HandlerSpec, Registry
from outbox.context import Cause, caused_by

EFFECT_TABLE = "bench_inbox_effect"
INBOX_TABLE = "inbox_inboxmessage"
QUEUE = "bench.inbox"
#: Its own exchange: the baselines' queue is bound to ``#`` on bench.events and would keep a copy of everything.
EXCHANGE = "bench.inbox"
HANDLER = "bench.effect"


def record_effect(message: Message) -> None:
    """The bench handler: one row per application, in the caller's transaction (raw SQL, like bench_domain)."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {EFFECT_TABLE} (message_id, seq) VALUES (%s, %s)",
                       [message.id, message.payload["seq"]])


def bench_registry() -> Registry:
    """A registry holding only the bench handler (the demo project's handlers stay out of the way)."""
    handlers = Registry()
    handlers.register(HandlerSpec(HANDLER, record_effect, (TOPIC,)))
    return handlers


def create_effect_table() -> None:
    """The handler's table: no unique constraint, so a duplicate the inbox let through shows up as a second row."""
    sql(f"""CREATE TABLE IF NOT EXISTS {EFFECT_TABLE} (
        id bigserial PRIMARY KEY, message_id text NOT NULL, seq integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""")


def reset_tables() -> None:
    """Empty the inbox and the effects (and their indexes): every timed run starts from empty tables."""
    sql(f"TRUNCATE {INBOX_TABLE}, {EFFECT_TABLE}")


def effects() -> tuple[int, int]:
    """(effect rows, distinct message ids among them)."""
    rows = sql(f"SELECT count(*), count(DISTINCT message_id) FROM {EFFECT_TABLE}")
    return int(rows[0][0]), int(rows[0][1])


class WithoutDedup(Processor):
    """The same handler body, one transaction per message, but no inbox row: nothing deduplicates.

    Only :meth:`Processor.deliver` changes. The library's version also wraps the handler in a savepoint
    (so that a failing handler keeps the inbox row); without a row there is nothing to keep, so the
    handler runs directly in the transaction, as a plain consumer would run it.
    """

    def deliver(self, message: Message, spec: HandlerSpec) -> Outcome:
        cause = Cause(message.id, message.correlation_id or message.id, message.traceparent)
        with transaction.atomic(using=self.using), caused_by(cause):
            spec.func(message)
        return Outcome.APPLIED


class CountingConsumer(InboxConsumer):
    """An :class:`InboxConsumer` that stops once ``expected`` deliveries were processed and acked, or after
    ``timeout`` seconds (then it has fewer: the caller treats that as a disturbance).

    ``sessions`` counts broker sessions: more than one means the connection was lost mid-run (a
    disturbance, and redeliveries that would distort the count).
    """

    def __init__(self, expected: int, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.expected = expected
        self.timeout = timeout
        self.sessions = 0
        self.delivered = 0

    def run(self, *, once: bool = False, idle_timeout: float = 1.0) -> ConsumeStats:
        watchdog = threading.Timer(self.timeout, self.stop.set)
        watchdog.daemon = True
        watchdog.start()
        try:
            return super().run(once=once, idle_timeout=idle_timeout)
        finally:
            watchdog.cancel()

    def _session(self, once: bool, idle_timeout: float) -> None:
        self.sessions += 1
        super()._session(once, idle_timeout)

    def _on_delivery(self, received: Any) -> None:
        super()._on_delivery(received)  # processed, committed and acked
        self.delivered += 1
        if self.delivered >= self.expected:
            self.stop.set()


def consumer(processor: Processor, expected: int, broker_url: str, timeout: float) -> CountingConsumer:
    """A counting consumer of ``processor``'s handlers on the bench queue."""
    return CountingConsumer(expected, timeout, processor=processor, url=broker_url, queue=QUEUE,
                            handlers=processor.registry)
