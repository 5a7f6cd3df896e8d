"""The write side: store outgoing messages in the caller's transaction. Nothing is sent here."""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.utils import timezone

from outbox import exceptions, metrics, routing, tracing, validation
from outbox.conf import outbox_settings
from outbox.context import Cause, current_cause
from outbox.models import OutboxKey, OutboxMessage
from outbox.relay import wakeup
from outbox.wire import TRACEPARENT_HEADER

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class OutgoingMessage:
    """One message for :func:`publish_many`; the fields mean what :func:`publish`'s arguments mean."""

    topic: str
    payload: Any
    key: str | None = None
    headers: Mapping[str, Any] | None = None
    message_id: Any = None
    delay: float | timedelta | None = None
    expires_in: float | timedelta | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    exchange: str | None = None
    routing_key: str | None = None


def publish(topic: str, payload: Any, *, key: str | None = None, headers: Mapping[str, Any] | None = None,
            message_id: Any = None, delay: float | timedelta | None = None,
            expires_in: float | timedelta | None = None, correlation_id: str | None = None,
            causation_id: str | None = None, using: str | None = None) -> OutboxMessage:
    """Store one outgoing message in the current transaction and return it.

    The message is written on the same database connection as the caller's model writes: if the
    transaction rolls back, the message never existed; once it commits, a relay publishes it.
    Messages with the same ``key`` are published in the order their transactions committed.
    ``delay`` holds it back; ``expires_in`` makes it worthless afterwards (not sent, not applied).
    Raises a subclass of :class:`outbox.exceptions.InvalidMessage` for a bad argument, having
    written nothing: :class:`~outbox.exceptions.MessageTooLarge` for a message larger than
    ``OUTBOX_MAX_BODY_BYTES`` / ``OUTBOX_MAX_HEADER_BYTES``.
    """
    outgoing = OutgoingMessage(topic, payload, key, headers, message_id, delay, expires_in,
                               correlation_id, causation_id)
    return publish_many([outgoing], using=using)[0]


def publish_many(messages: Iterable[OutgoingMessage], *, using: str | None = None) -> list[OutboxMessage]:
    """Store many messages with one INSERT and return them, in order; [] for an empty iterable.

    Validation happens for all messages first: one bad message raises and none is written. Raises
    :class:`outbox.exceptions.TransactionMismatch` when the outbox's alias (``using``, else the router's
    write alias) is not in a transaction while another alias is: the caller's work is elsewhere.
    """
    alias = using or routing.model_write_alias(OutboxMessage)
    outgoing = list(messages)
    rows = [_build(message) for message in outgoing]
    if not rows:
        return []
    routing.check_in_callers_transaction(alias)
    if outbox_settings.REQUIRE_ATOMIC and not connections[alias].in_atomic_block:
        raise exceptions.NotInTransaction()
    # Only caller-chosen ids can collide; a savepoint then keeps the caller's transaction usable
    # after the duplicate-id error. Generated UUIDs skip its two extra round trips.
    explicit_ids = any(message.message_id is not None for message in outgoing)
    with tracing.publishing(rows), transaction.atomic(using=alias, savepoint=explicit_ids):
        _assign_sequences(rows, alias)
        _insert(rows, alias)
    wakeup.after_commit(alias)
    metrics.outbox_event_on_commit("published", (row.topic for row in rows), alias)
    return rows


def _build(message: OutgoingMessage) -> OutboxMessage:
    now = timezone.now()
    delay = validation.check_seconds(message.delay, "delay")
    expires_in = validation.check_seconds(message.expires_in, "expires_in")
    payload, body_bytes = validation.check_payload_body(message.payload)
    row = OutboxMessage(
        topic=validation.check_topic(message.topic),
        key=validation.check_key(message.key),
        payload=payload,
        headers=validation.check_headers(message.headers),
        created_at=now,
        available_at=now + delay if delay else now,
        expires_at=now + expires_in if expires_in is not None else None,
        exchange=message.exchange,
        routing_key=validation.check_topic(message.routing_key) if message.routing_key else "",
    )
    message_id = validation.check_message_id(message.message_id)
    if message_id is not None:
        row.id = message_id
    _link(row, message)
    validation.check_size(row, body_bytes, outbox_settings.SOURCE)
    return row


def _link(row: OutboxMessage, message: OutgoingMessage) -> None:
    """Correlation and causation: explicit values win, else those of the message being handled."""
    cause = current_cause()
    row.correlation_id = validation.check_id_text(message.correlation_id, "correlation_id")
    row.causation_id = validation.check_id_text(message.causation_id, "causation_id")
    if cause is not None:
        row.correlation_id = row.correlation_id or cause.correlation_id
        row.causation_id = row.causation_id or cause.message_id
        if cause.traceparent and TRACEPARENT_HEADER not in row.headers:
            _inherit_traceparent(row, cause)
    row.correlation_id = row.correlation_id or str(row.id)


def _inherit_traceparent(row: OutboxMessage, cause: Cause) -> None:
    """The handled message's traceparent, if it is a valid one. The incoming message came from anyone: a bad
    traceparent (130 KB of it, say) would otherwise make every message its handler publishes unsendable."""
    if validation.is_traceparent(cause.traceparent):
        row.headers[TRACEPARENT_HEADER] = cause.traceparent
        return
    logger.info("invalid traceparent of message %s not passed on: %.80r", cause.message_id, cause.traceparent,
                extra={"action": "outbox_trace_dropped", "message_id": str(row.id)})


def _assign_sequences(rows: list[OutboxMessage], alias: str) -> None:
    """Give keyed messages the next numbers of their key (one upsert per distinct key)."""
    by_key: dict[str, list[OutboxMessage]] = defaultdict(list)
    for row in rows:
        if row.key is not None:
            by_key[row.key].append(row)
    for key in sorted(by_key):  # a fixed lock order: two bulk writers cannot deadlock on keys
        last = _advance(key, len(by_key[key]), alias)
        for offset, row in enumerate(by_key[key]):
            row.seq = last - len(by_key[key]) + 1 + offset


def _advance(key: str, count: int, alias: str) -> int:
    """Atomically add ``count`` to the key's counter and return the new value.

    The row lock this takes is held until the caller's transaction ends, so the next writer of the
    same key waits: sequence order is commit order.
    """
    quote = connections[alias].ops.quote_name
    table, key_col, seq_col = quote(OutboxKey._meta.db_table), quote("key"), quote("last_seq")
    sql = (f"INSERT INTO {table} ({key_col}, {seq_col}) VALUES (%s, %s) ON CONFLICT ({key_col}) "
           f"DO UPDATE SET {seq_col} = {table}.{seq_col} + EXCLUDED.{seq_col} RETURNING {seq_col}")
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [key, count])
        return int(cursor.fetchone()[0])


def _insert(rows: list[OutboxMessage], alias: str) -> None:
    """``INSERT ... VALUES (...), (...)`` for ``rows`` (in chunks the backend accepts), built from the model.

    What ``bulk_create`` would send, without its query compiler: on the hot path of every business
    transaction that publishes, the compiler cost more client time than the statement took in the
    database (docs/benchmarks.md, write cost). UUIDs, JSON and datetimes go through their field's own
    ``get_db_prep_save``, so every database backend gets what the ORM would give it.
    """
    connection = connections[alias]
    table, fields = _insert_shape(alias)
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    chunk = max(1, connection.ops.bulk_batch_size([field for field, _ in fields], rows))
    try:
        with connection.cursor() as cursor:
            for start in range(0, len(rows), chunk):
                part = rows[start:start + chunk]
                params = [_db_value(row, field, prepare, connection) for row in part for field, prepare in fields]
                cursor.execute(f"INSERT INTO {table} VALUES " + ", ".join([placeholders] * len(part)), params)
    except IntegrityError as exc:
        raise exceptions.DuplicateMessageId(f"a message id is already in the outbox: {exc}") from exc


def _db_value(row: OutboxMessage, field: Field[Any, Any], prepare: bool, connection: BaseDatabaseWrapper) -> Any:
    value = getattr(row, field.attname)
    return field.get_db_prep_save(value, connection) if prepare else value


#: Fields whose Python value the database driver takes as it is (no per-backend conversion).
_PLAIN_FIELDS = frozenset({"CharField", "TextField", "BigIntegerField", "PositiveIntegerField"})


@functools.cache
def _insert_shape(alias: str) -> tuple[str, list[tuple[Field[Any, Any], bool]]]:
    """``table (col, ...)`` quoted for ``alias``'s backend, and each field with whether its value needs
    the field's conversion (cached: the model does not change while the process runs)."""
    quote = connections[alias].ops.quote_name
    fields = list(OutboxMessage._meta.concrete_fields)
    names = ", ".join(quote(str(field.column)) for field in fields)
    shape = [(field, field.get_internal_type() not in _PLAIN_FIELDS) for field in fields]
    return f"{quote(OutboxMessage._meta.db_table)} ({names})", shape
