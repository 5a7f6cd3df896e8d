"""Exactly-once effect: record, run, retry, dead-letter, all in the handler's own transaction.

For each (handler, message id) one inbox row is inserted in the same transaction as the handler's
writes and before the handler runs. A duplicate, concurrent or days later, finds the row and is
skipped. The broker message is acknowledged only after that transaction committed (applied, or
safely recorded for a delayed retry, or dead). Crash windows:
- before commit: nothing was recorded, the broker redelivers, the message runs again from scratch;
- after commit, before the ack: the redelivery finds the row and is skipped.

The row is inserted as it reads once the first attempt succeeded (the common case), so that case
writes it once: see :meth:`Processor._receive`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum

from django.db import DatabaseError, transaction
from django.utils import timezone

from inbox import metrics, ordering, transitions
from inbox.conf import inbox_settings
from inbox.decoding import plain, storable
from inbox.failures import Failure, describe, rejection
from inbox.faults import faults_on, publish_fault
from inbox.message import Message, build_message
from inbox.models import InboxMessage, KeyPosition, Status
from inbox.registry import HandlerSpec, Registry, registry
from inbox.retry import immediate_retries, max_attempts, next_retry
from outbox import tracing
from outbox.breaker import CircuitBreaker, State
from outbox.context import Cause, caused_by
from outbox.routing import model_write_alias
from outbox.wire import Delivery, read_headers

logger = logging.getLogger(__name__)

#: Seconds between two self-healing passes of one processor's retry poller (the first call always runs one).
HEAL_EVERY = 10.0
#: How long a message no handler of this process can apply waits before the next worker looks at it again.
PARK_INTERVAL = timedelta(seconds=60)


class Outcome(str, Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    RETRYING = "retrying"
    DEFERRED = "deferred"
    DEAD = "dead"
    FAULTED = "faulted"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    PARKED = "parked"


class Processor:
    """Applies messages to handlers; one per consumer worker (its circuit breakers live here)."""

    def __init__(self, handlers: Registry = registry, *, using: str | None = None) -> None:
        self.registry = handlers
        self.using = using or model_write_alias(InboxMessage)  # None: where the router writes inbox rows
        self.breakers: dict[str, CircuitBreaker] = {}
        self._healed_at: float | None = None
        self._breaker_changes: dict[str, CircuitBreaker] = {}

    # -- entry points -------------------------------------------------------------------------
    def deliver(self, message: Message, spec: HandlerSpec) -> Outcome:
        """First delivery (or a redelivery) of ``message`` to ``spec``; returns what happened.

        Returns DUPLICATE when this handler already has the message, DEAD when a step around the
        handler raised (building its fault, say): that is recorded with the traceback. Raises only
        DatabaseError (database down): nothing was committed and the caller must not ack.
        """
        try:
            with transaction.atomic(using=self.using):
                row = self._new_row(message, spec.name)
                if not self._receive(row):
                    return Outcome.DUPLICATE
                return self._run(row, message, spec, first=True)
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - a message that crashes a step is recorded, never redelivered
            return self._crashed(self._new_row(message, spec.name), exc)
        finally:
            self._flush_breakers()

    def park(self, message: Message) -> Outcome:
        """Keep a message no handler of this process takes, for a worker that has one (returns PARKED).

        Such a message reaches this worker during a rolling deploy: the new version bound its queue to
        a new topic while old workers still consume it. Recording it dead would lose it, requeuing it
        would spin between old workers. It is stored whole with ``handler=""``, waiting: every worker's
        retry poller looks at it (see :meth:`_adopt`); one with handlers for its topic applies it to each
        of them, deduplicated per handler as any delivery, and marks the parked row done. A worker
        without one postpones it by ``PARK_INTERVAL``. Returns DUPLICATE when it is parked already.
        """
        row = self._new_row(message, "")
        row.available_at = row.received_at + PARK_INTERVAL
        with transaction.atomic(using=self.using):
            if not InboxMessage.objects.using(self.using).receive(row):
                return Outcome.DUPLICATE
        logger.warning("no handler takes topic %r: message %s parked for a worker that has one", message.topic,
                       message.id, extra={"action": "inbox_parked", "message_id": message.id})
        return Outcome.PARKED

    def reject(self, delivery: Delivery, reason: str, error: BaseException | None = None) -> Outcome:
        """Record a message that cannot be processed as dead, with its reason (and the traceback of ``error``,
        when reading it crashed), then it may be acked. Returns REJECTED, or DUPLICATE if recorded already."""
        # storable(): a NUL character in any of these would fail the insert at every redelivery.
        failure = rejection(storable(reason))
        if error is not None:
            failure = replace(failure, traceback=storable(describe(error, inbox_settings.TRACEBACK_LIMIT).traceback))
        row = InboxMessage(handler="", message_id=storable(delivery.message_id)[:255] or f"missing-id:{_uuid()}",
                           topic=storable(delivery.routing_key[:255]), headers=storable(_safe_headers(delivery)),
                           raw_body=storable(delivery.body[: inbox_settings.RAW_BODY_LIMIT].decode("utf-8", "replace")),
                           status=Status.DEAD, processed_at=timezone.now())
        _apply_failure(row, failure, timezone.now(), "rejected")
        with transaction.atomic(using=self.using):
            if not InboxMessage.objects.using(self.using).receive(row):
                return Outcome.DUPLICATE
        logger.warning("message %s refused: %s", row.message_id, reason, exc_info=error,
                       extra={"action": "inbox_rejected", "message_id": row.message_id})
        return Outcome.REJECTED

    def retry_due(self, limit: int | None = None) -> int:
        """Run up to ``limit`` delayed retries whose time has come; returns how many ran (0 if none due).

        Finishing a message of an ordered key makes the key's next blocked message due at once, so
        this keeps selecting until the limit is reached or a pass makes no progress: a chain of
        blocked messages is released within one call, not one consumer round per message. First it
        releases blocked messages that nothing is ahead of any more (self-healing, see
        :func:`inbox.transitions.release_stranded`).
        """
        budget = limit or inbox_settings.RETRY_BATCH
        self._heal(budget)
        total = 0
        while total < budget:
            now = timezone.now()
            due = list(InboxMessage.objects.using(self.using).due(now).order_by("available_at")
                       .values_list("id", "handler", "key", "sequence")[: budget - total])
            ran = sum(self._retry(pk, now, self._ordering_key(handler, key, sequence))
                      for pk, handler, key, sequence in due)
            total += ran
            if not ran:
                break
        return total

    def _heal(self, limit: int) -> None:
        """Release stranded blocked messages, at most once per :data:`HEAL_EVERY` seconds: the query probes
        every blocked row, and this runs after each batch of deliveries."""
        clock = time.monotonic()
        if self._healed_at is None or clock - self._healed_at >= HEAL_EVERY:
            self._healed_at = clock
            transitions.release_stranded(limit, self.using)

    # -- one run --------------------------------------------------------------------------------
    def _ordering_key(self, handler: str, key: str | None, sequence: int | None) -> tuple[str, str] | None:
        """(handler, key) whose lock a run of this message takes; None when its handler keeps no per-key state."""
        spec = self.registry.get(handler)
        keyed = spec is not None and (spec.ordered or spec.skip_stale)
        return (handler, key) if keyed and key is not None and sequence is not None else None

    def _retry(self, pk: int, now: datetime, key: tuple[str, str] | None) -> bool:
        try:
            with transaction.atomic(using=self.using):
                # The key before the row: the order operator actions take them in (inbox/transitions.py),
                # so that neither side waits for the other in a circle.
                if key is not None:
                    ordering.lock_key(*key, self.using)
                row = (InboxMessage.objects.using(self.using).select_for_update(skip_locked=True)
                       .filter(pk=pk, status=Status.WAITING, available_at__lte=now).first())
                if row is None:
                    return False  # another worker has it, or it changed meanwhile
                spec = self.registry.get(row.handler)
                if spec is None:
                    return self._adopt(row, now) if not row.handler else self._park_unknown(row, now)
                # A deferral (circuit open) is not progress: `--once` must not spin on it.
                return self._run(row, message_from_row(row), spec, first=False) is not Outcome.DEFERRED
        except DatabaseError:
            raise
        except Exception as exc:  # noqa: BLE001 - the transaction rolled back: record the crash on the row
            self._bury(pk, exc)
            return True
        finally:
            self._flush_breakers()

    def _adopt(self, parked: InboxMessage, now: datetime) -> bool:
        """Apply a parked message (see :meth:`park`) to this process's handlers of its topic; False if none."""
        specs = self.registry.for_topic(parked.topic)
        if not specs:
            return self._park_unknown(parked, now)
        message = message_from_row(parked)
        for spec in specs:
            row = self._new_row(message, spec.name)
            if self._receive(row):  # False: the handler got the message meanwhile, from its own queue
                self._run(row, message, spec, first=True)
        parked.status, parked.processed_at, parked.available_at = Status.DONE, now, None
        parked.history = [*(parked.history or []), {"at": now.isoformat(), "event": "adopted",
                                                    "handlers": [spec.name for spec in specs]}]
        parked.save(using=self.using)
        return True

    def _run(self, row: InboxMessage, message: Message, spec: HandlerSpec, *, first: bool) -> Outcome:
        now = timezone.now()
        position = ordering.lock_key(spec.name, row.key, self.using) if row.key and _keyed(spec, row) else None
        if is_expired(message, spec, now):
            return self._finish(row, spec, Status.EXPIRED, now, position)
        if spec.ordered and ordering.is_blocked(row, inbox_settings.DEAD_BLOCKS_KEY, self.using):
            row.status, row.available_at = Status.BLOCKED, None
            row.save(using=self.using)
            return Outcome.BLOCKED
        if spec.skip_stale and ordering.is_stale(position, row):
            return self._finish(row, spec, Status.SKIPPED, now, position)
        breaker = self._breaker(spec)
        if breaker is not None and not breaker.allow():
            return self._defer(row, breaker, now)
        return self._attempts(row, message, spec, position, first, breaker)

    def _attempts(self, row: InboxMessage, message: Message, spec: HandlerSpec, position: KeyPosition | None,
                  first: bool, breaker: CircuitBreaker | None) -> Outcome:
        probing = breaker is not None and breaker.state is State.HALF_OPEN
        tries = 1 + (immediate_retries(spec) if first and not probing else 0)
        for attempt in range(tries):
            row.attempts += 1
            error = self._call(spec, replace(message, attempt=row.attempts))
            if error is None:
                if breaker is not None:
                    breaker.success()
                # Applied at the first attempt of a first delivery: the row is stored so already (_receive).
                stored = first and row.attempts == 1
                return self._finish(row, spec, Status.DONE, timezone.now(), position, stored=stored)
            if spec.is_business_error(error):
                return self._business_failure(row, message, spec, error, position)
            if breaker is not None:
                breaker.failure(f"{type(error).__name__}: {error}", key=row.message_id)
            _apply_failure(row, describe(error, inbox_settings.TRACEBACK_LIMIT), timezone.now(), "failed")
            if breaker is not None and breaker.state is not State.CLOSED:
                _log_attempt(spec, row, error, f"circuit open, deferred {breaker.remaining():.1f}s (not charged)")
                row.attempts -= 1  # an outage is not the message's fault: this attempt is not charged
                row.history[-1]["event"] = "failed, not charged: circuit open"
                return self._defer(row, breaker, timezone.now())
            if attempt < tries - 1:
                _log_attempt(spec, row, error, "immediate retry")
        assert error is not None  # the loop returns on success: here every try failed
        return self._schedule_retry(row, spec, position, error)

    def _call(self, spec: HandlerSpec, message: Message) -> Exception | None:
        """Run the handler in a savepoint: its writes vanish if it raises, the inbox row stays."""
        cause = Cause(message.id, message.correlation_id or message.id, message.traceparent)
        try:
            with transaction.atomic(using=self.using), caused_by(cause), tracing.processing(spec.name, message):
                spec.func(message)
        except Exception as exc:  # noqa: BLE001 - any handler error is recorded, retried or dead-lettered
            return exc
        return None

    # -- outcomes -------------------------------------------------------------------------------
    def _finish(self, row: InboxMessage, spec: HandlerSpec, status: Status, now: datetime,
                position: KeyPosition | None, *, stored: bool = False) -> Outcome:
        """Record a final status. ``stored``: the database row already reads "done" (see :meth:`_receive`),
        only the row in memory is brought up to date."""
        if stored:
            row.status, row.processed_at, row.available_at = status, row.received_at, None
        else:
            row.status, row.processed_at, row.available_at = status, now, None
            row.save(using=self.using)
        metrics.inbox_event("applied" if status == Status.DONE else status.value, spec.name, self.using)
        if status == Status.DONE:
            ordering.advance(position, row, now)
        if spec.ordered:
            ordering.release_next(row, now, self.using)
        return {Status.DONE: Outcome.APPLIED, Status.EXPIRED: Outcome.EXPIRED,
                Status.SKIPPED: Outcome.SKIPPED}[status]

    def _business_failure(self, row: InboxMessage, message: Message, spec: HandlerSpec, error: Exception,
                          position: KeyPosition | None) -> Outcome:
        now = timezone.now()
        _apply_failure(row, describe(error, inbox_settings.TRACEBACK_LIMIT), now, "business_error")
        self._go_dead(row, spec, now, "business_error", message)
        logger.warning("%s refused message %s (attempt %d): %s: %s; dead (business error, not retried)", spec.name,
                       message.id, row.attempts, type(error).__name__, error, exc_info=error,
                       extra={"action": "inbox_business_error", "message_id": message.id})
        return Outcome.FAULTED

    def _schedule_retry(self, row: InboxMessage, spec: HandlerSpec, position: KeyPosition | None,
                        error: Exception) -> Outcome:
        now = timezone.now()
        when = next_retry(spec, row, now)
        if when is None:
            self._go_dead(row, spec, now, "retries_exhausted" if inbox_settings.FAULT_ON_DEAD else None)
            _log_attempt(spec, row, error, "dead", level=logging.ERROR, action="inbox_dead")
            return Outcome.DEAD
        row.status, row.available_at = Status.WAITING, when
        row.save(using=self.using)
        metrics.inbox_event("retried", spec.name, self.using)
        _log_attempt(spec, row, error, f"retrying in {(when - now).total_seconds():.1f}s")
        return Outcome.RETRYING

    def _go_dead(self, row: InboxMessage, spec: HandlerSpec, now: datetime, fault: str | None,
                 message: Message | None = None) -> None:
        """The steps of going dead, in order: the row (saved), the metric, the fault event of kind ``fault``
        (None: none) when the handler publishes faults, then the next message of an ordered key, unless a
        dead message blocks its key (INBOX_DEAD_BLOCKS_KEY)."""
        _mark_dead(row, now, self.using)
        row.save(using=self.using)
        if fault is not None and faults_on(spec):
            publish_fault(message or message_from_row(row), spec, row.error_type, row.error_message, fault)
        if spec.ordered and not inbox_settings.DEAD_BLOCKS_KEY:
            ordering.release_next(row, now, self.using)

    def _defer(self, row: InboxMessage, breaker: CircuitBreaker, now: datetime) -> Outcome:
        """The handler's circuit is open: wait for the next probe without spending an attempt."""
        row.status, row.available_at = Status.WAITING, now + timedelta(seconds=max(0.05, breaker.remaining()))
        row.save(using=self.using)
        return Outcome.DEFERRED

    def _park_unknown(self, row: InboxMessage, now: datetime) -> bool:
        logger.warning("no handler %s in this process; retry of %s postponed",
                       repr(row.handler) if row.handler else f"for topic {row.topic!r}", row.message_id,
                       extra={"action": "inbox_unknown_handler", "message_id": row.message_id})
        row.available_at = now + PARK_INTERVAL
        row.save(using=self.using, update_fields=["available_at"])
        return False

    def _crashed(self, row: InboxMessage, exc: Exception) -> Outcome:
        """Record a first delivery whose processing raised (its transaction rolled back) as dead."""
        self._dead_by_crash(row, exc)
        with transaction.atomic(using=self.using):
            if not InboxMessage.objects.using(self.using).receive(row):
                return Outcome.DUPLICATE
        return Outcome.DEAD

    def _bury(self, pk: int, exc: Exception) -> None:
        """Record a delayed retry whose processing raised (its transaction rolled back) as dead."""
        with transaction.atomic(using=self.using):
            row = InboxMessage.objects.using(self.using).select_for_update().filter(pk=pk).first()
            if row is not None:
                self._dead_by_crash(row, exc)
                row.save(using=self.using)

    def _dead_by_crash(self, row: InboxMessage, exc: Exception) -> None:
        now = timezone.now()
        _apply_failure(row, describe(exc, inbox_settings.TRACEBACK_LIMIT), now, "crashed")
        _mark_dead(row, now, self.using)  # not saved here: the caller inserts or saves the row
        logger.error("processing message %s for %s crashed, recorded dead: %s", row.message_id, row.handler, exc,
                     exc_info=exc, extra={"action": "inbox_crashed", "message_id": row.message_id})

    # -- breakers -------------------------------------------------------------------------------
    def _breaker(self, spec: HandlerSpec) -> CircuitBreaker | None:
        if not spec.breaker:
            return None
        if spec.name not in self.breakers:
            self.breakers[spec.name] = CircuitBreaker(
                spec.name, threshold=inbox_settings.BREAKER_FAILURES, window=inbox_settings.BREAKER_WINDOW,
                rate=inbox_settings.BREAKER_RATE, cooldown=inbox_settings.BREAKER_COOLDOWN,
                cooldown_cap=inbox_settings.BREAKER_COOLDOWN_CAP,
                on_change=lambda b: self._breaker_changes.__setitem__(b.name, b))
        return self.breakers[spec.name]

    def _flush_breakers(self) -> None:
        """Store breaker state changes outside the handler's transaction (they hold even if it rolled back)."""
        from outbox.breaker_state import record

        changes, self._breaker_changes = self._breaker_changes, {}
        for breaker in changes.values():
            record(breaker, self.using)

    # -- rows -----------------------------------------------------------------------------------
    def _receive(self, row: InboxMessage) -> bool:
        """INSERT the new row unless this handler has the message already; False for a duplicate.

        The row is written as it reads once the first attempt succeeded (done, 1 attempt, processed at
        its arrival), so that outcome, the common one, needs no second write: an UPDATE of the status
        rewrites the whole row (payload included) and adds an entry to each of its indexes (a status
        change is never a HOT update), which halved the consumer's throughput. Nothing outside this
        transaction sees the row before it commits, and every other outcome saves the row's real state
        (blocked, waiting, dead, ...). In memory the row is set back to "received, not run yet".
        """
        row.status, row.attempts, row.processed_at = Status.DONE, 1, row.received_at
        if not InboxMessage.objects.using(self.using).receive(row):
            return False
        row.status, row.attempts, row.processed_at = Status.WAITING, 0, None
        return True

    def _new_row(self, message: Message, handler: str) -> InboxMessage:
        return InboxMessage(handler=handler, message_id=message.id, topic=message.topic, key=message.key,
                            sequence=message.sequence, payload=message.payload, headers=message.headers,
                            correlation_id=message.correlation_id, causation_id=message.causation_id,
                            expires_at=message.expires_at, status=Status.WAITING, received_at=timezone.now())


def message_from_row(row: InboxMessage) -> Message:
    """Rebuild the handler's message from a stored row (delayed retries, replays)."""
    headers = dict(row.headers or {})
    # The row's columns are what was stored: they win over the headers (a row may come from elsewhere).
    stored = replace(read_headers(headers), key=row.key, sequence=row.sequence, causation_id=row.causation_id,
                     expires_at=row.expires_at)
    return build_message(row.message_id, row.topic, row.payload, headers, row.correlation_id, stored,
                         attempt=row.attempts + 1)


def _keyed(spec: HandlerSpec, row: InboxMessage) -> bool:
    return (spec.ordered or spec.skip_stale) and row.key is not None and row.sequence is not None


def is_expired(message: Message, spec: HandlerSpec, now: datetime) -> bool:
    """Past its ``expires_at``, or older than the handler's ``ttl``."""
    if message.expires_at is not None and message.expires_at <= now:
        return True
    # Age as a difference of datetimes, compared in seconds: sent_at + ttl overflows for a sent time in year 9999.
    return spec.ttl is not None and message.sent_at is not None and (now - message.sent_at).total_seconds() >= spec.ttl


def _log_attempt(spec: HandlerSpec, row: InboxMessage, error: Exception, decision: str, *,
                 level: int = logging.WARNING, action: str = "inbox_attempt_failed") -> None:
    """One line per failed attempt, with its traceback and what happens next (as Celery's worker logs it)."""
    logger.log(level, "%s failed on message %s (attempt %d of %d): %s: %s; %s", spec.name, row.message_id,
               row.attempts, max_attempts(spec), type(error).__name__, error, decision, exc_info=error,
               extra={"action": action, "message_id": row.message_id})


def _mark_dead(row: InboxMessage, now: datetime, using: str) -> None:
    """Set the row dead (finished now, never due again) and count it; the caller saves it."""
    row.status, row.processed_at, row.available_at = Status.DEAD, now, None
    metrics.inbox_event("dead", row.handler, using)


def _apply_failure(row: InboxMessage, failure: Failure, now: datetime, kind: str) -> None:
    row.error_type, row.error_message = failure.error_type, failure.error_message
    row.traceback, row.error_group = failure.traceback, failure.group
    row.first_failed_at = row.first_failed_at or now
    row.last_failed_at = now
    row.history = [*(row.history or []), {"at": now.isoformat(), "event": kind, "attempt": row.attempts,
                                          "error": f"{failure.error_type}: {failure.error_message}"[:500]}]


def _safe_headers(delivery: Delivery) -> dict[str, object]:
    try:
        return {str(k): plain(v) for k, v in delivery.headers.items()}
    except Exception:  # noqa: BLE001 - headers of a refused message are best effort
        return {}


def _uuid() -> str:
    import uuid

    return uuid.uuid4().hex
