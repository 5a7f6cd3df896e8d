"""Inbox consumer throughput: the same consumer without and with the dedup record, and with every
message delivered 3 times; effects counted from the database; bytes per inbox row.

Per timed run: empty tables, publish the messages in the wire format through the outbox's own
transport (``envelope_for`` + ``AmqpTransport``, persistent, confirmed; not timed), VACUUM ANALYZE
and CHECKPOINT, then time ``InboxConsumer.run()`` from its start until the last expected delivery was
processed, committed and acked. The three modes are interleaved run by run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from kombu import Connection

from bench import data
from bench.config import Config, log
from bench.env import TOPIC, scalar, sql
from bench.inbox_consumer import (
    EXCHANGE,
    INBOX_TABLE,
    QUEUE,
    WithoutDedup,
    bench_registry,
    consumer,
    create_effect_table,
    effects,
    reset_tables,
)
from bench.stats import Disturbed, measured, timed
from inbox.consumer import subscriptions_for
from inbox.processing import Processor
from inbox.registry import Registry
from outbox.transports.amqp_consumer import kombu_queues
from outbox.wire import Envelope

WITHOUT, WITH, X3 = "without dedup", "with dedup", "duplicates x3"
#: Mode -> (processor class, deliveries per message).
MODES: dict[str, tuple[Callable[[Registry], Processor], int]] = {
    WITHOUT: (WithoutDedup, 1), WITH: (Processor, 1), X3: (Processor, 3)}
PUBLISH_CHUNK = 1000
SOURCE = "/bench"


@dataclass
class InboxRates:
    """Deliveries/s per mode and run; what the dedup runs applied; bytes per inbox row."""

    messages: int
    runs: dict[str, list[float]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    #: Effect rows after each run with dedup (with dedup and x3): each must equal ``messages``.
    effects: list[int] = field(default_factory=list)
    #: Consumer outcomes of the last x3 run, e.g. {"applied": N, "duplicate": 2N}.
    x3_outcomes: dict[str, int] = field(default_factory=dict)
    bytes_written: float = 0.0
    bytes_compact: float = 0.0

    @property
    def exactly_once(self) -> bool:
        return bool(self.effects) and all(count == self.messages for count in self.effects)


def envelopes(count: int) -> list[Envelope]:
    """``count`` distinct messages (~1 KiB JSON payloads) exactly as the relay builds them for the wire."""
    from outbox.models import OutboxMessage
    from outbox.wire import envelope_for

    return [envelope_for(OutboxMessage(topic=TOPIC, payload=data.payload(seq)), SOURCE) for seq in range(count)]


def prepare_queue(handlers: Registry, broker_url: str) -> None:
    """Declare the consumer's queue exactly as it will (same kombu declaration and bindings), and purge it,
    so messages published before the consumer starts are routed into it."""
    with Connection(broker_url) as conn:
        for _subscription, queue in kombu_queues(subscriptions_for(handlers, QUEUE), EXCHANGE):
            bound = queue(conn.default_channel)
            bound.declare()
            bound.purge()


def publish(messages: Sequence[Envelope], copies: int, broker_url: str) -> None:
    """Publish every message ``copies`` times, in rounds: all of them, then all again (not timed).

    Rounds are how copies arrive in practice: a relay re-sends a batch after its lease ran out or a
    confirm was missing, and the broker redelivers unacked messages, both behind the traffic since.
    """
    from outbox.transports.amqp import AmqpTransport

    transport = AmqpTransport(broker_url)
    try:
        for _ in range(copies):
            for start in range(0, len(messages), PUBLISH_CHUNK):
                chunk = messages[start:start + PUBLISH_CHUNK]
                report = transport.publish(EXCHANGE, chunk)
                if len(report.confirmed) != len(chunk):
                    raise Disturbed(f"published {len(report.confirmed)} of {len(chunk)}: {report.broker_error}")
    finally:
        transport.close()


def settle() -> None:
    """VACUUM ANALYZE and CHECKPOINT, so every timed run starts alike (as in bench.data.settle)."""
    sql(f"VACUUM (ANALYZE) {INBOX_TABLE}")
    sql("CHECKPOINT")


def row_bytes() -> float:
    """pg_total_relation_size of the inbox table (heap, TOAST, every index) per row."""
    rows = int(scalar(f"SELECT count(*) FROM {INBOX_TABLE}"))
    return int(scalar("SELECT pg_total_relation_size(%s)", [INBOX_TABLE])) / rows if rows else 0.0


def timed_consume(processor: Processor, deliveries: int, broker_url: str) -> tuple[float, dict[str, int]]:
    """Seconds for one consumer to process ``deliveries`` deliveries; and its outcomes.

    Raises Disturbed if the broker connection was lost meanwhile (redeliveries would distort the
    count) or the deliveries did not all arrive in time.
    """
    worker = consumer(processor, deliveries, broker_url, timeout=60 + deliveries / 50)
    stats, seconds = timed(worker.run)
    received = sum(stats.outcomes.values())
    if worker.sessions != 1 or received != deliveries:
        raise Disturbed(f"consumer: {worker.sessions} session(s), {received} of {deliveries} deliveries")
    return seconds, dict(stats.outcomes)


def run_mode(mode: str, rates: InboxRates, handlers: Registry, broker_url: str) -> float:
    """One timed run of ``mode`` on fresh tables and a fresh queue; returns deliveries/s."""
    make_processor, copies = MODES[mode]
    reset_tables()
    prepare_queue(handlers, broker_url)
    publish(envelopes(rates.messages), copies, broker_url)
    settle()
    seconds, outcomes = timed_consume(make_processor(handlers), rates.messages * copies, broker_url)
    applied, distinct = effects()
    if mode == WITHOUT and applied != rates.messages:
        raise AssertionError(f"without dedup: {applied} effects for {rates.messages} single deliveries")
    if mode != WITHOUT:
        rates.effects.append(applied)
        log(f"inbox {mode}: {applied:,} effects ({distinct:,} distinct) for {rates.messages:,} messages; "
            f"outcomes {outcomes}")
    if mode == X3:
        rates.x3_outcomes = outcomes
    if mode == WITH and not rates.bytes_written:
        rates.bytes_written, rates.bytes_compact = inbox_row_sizes()
    return rates.messages * copies / seconds


def inbox_row_sizes() -> tuple[float, float]:
    """Bytes per processed inbox row as the consumer left them (insert + update), and after VACUUM FULL."""
    written = row_bytes()
    sql(f"VACUUM FULL {INBOX_TABLE}")
    return written, row_bytes()


def measure(config: Config, broker_url: str) -> InboxRates:
    """Every mode ``config.runs`` times, interleaved run by run, on ``config.inbox_messages`` messages."""
    from django.test import override_settings

    rates, handlers = InboxRates(config.inbox_messages), bench_registry()
    create_effect_table()
    # The consumer binds its queue on OUTBOX_EXCHANGE: the bench's own exchange during this section.
    with override_settings(OUTBOX_EXCHANGE=EXCHANGE):
        for run in range(config.runs):
            for mode in MODES:
                rates.runs[mode].append(measured(partial(run_mode, mode, rates, handlers, broker_url), f"inbox {mode}"))
                log(f"inbox {mode} run {run + 1}/{config.runs}: {rates.runs[mode][-1]:,.0f} deliveries/s")
        prepare_queue(handlers, broker_url)
    reset_tables()
    return rates
