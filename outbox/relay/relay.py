"""The relay: claim due messages, publish them with confirms, record what the broker said.

One function serves every trigger: the Celery task, the ``outbox_relay`` command and tests all
call :meth:`Relay.drain` (or :func:`drain` with the process's default relay).

Crash windows, and why nothing is lost:
- after claim, before publish: the lease runs out and another relay (or this one) claims again;
- after publish, before the confirm is recorded: same, so the message is published again with the
  same message id; the inbox drops the duplicate (at-least-once delivery, exactly-once effect);
- broker gone mid-batch: unconfirmed messages are released at once, no attempt spent.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from outbox import metrics, tracing
from outbox.breaker import CircuitBreaker, State
from outbox.breaker_state import record
from outbox.conf import outbox_settings
from outbox.exceptions import BrokerUnavailable, ConfigurationError
from outbox.models import Failure, OutboxMessage, OutboxMessageQuerySet, Status
from outbox.relay.claimed import Claimed
from outbox.relay.leases import LeaseKeeper
from outbox.retry import relay_policy
from outbox.routing import model_write_alias
from outbox.transports.base import InFlight, PublishReport, Transport
from outbox.transports.registry import transport_for_url
from outbox.wire import Envelope, dumps, envelope_for

logger = logging.getLogger(__name__)


@dataclass
class RelayResult:
    """Counts of one or more relay rounds. ``keyed``: claimed messages that had an ordering key."""

    claimed: int = 0
    keyed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    expired: int = 0
    released: int = 0
    #: Results not recorded because this relay's lease on the message had been taken over meanwhile.
    lost: int = 0

    def __iadd__(self, other: RelayResult) -> RelayResult:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


class Relay:
    """Publishes the outbox of one database through one broker connection (not thread-safe)."""

    def __init__(self, transport: Transport | None = None, *, using: str | None = None,
                 batch_size: int | None = None) -> None:
        self.using = using or model_write_alias(OutboxMessage)  # None: where the router writes the outbox
        self.batch_size = batch_size or outbox_settings.BATCH_SIZE
        #: Lease token of this relay (``lease_owner``); every result it records is fenced by it.
        self.owner = _lease_token()
        self.leases = LeaseKeeper(self._mine)
        self._transport = self._keeping_leases(transport) if transport is not None else None
        self.breaker = CircuitBreaker("outbox-relay", threshold=1, cooldown=outbox_settings.BREAKER_RESET,
                                      cooldown_cap=outbox_settings.BREAKER_RESET_CAP,
                                      on_change=lambda breaker: record(breaker, self.using))
        # The stored state is written on changes; a fresh process starts closed in memory, so its first
        # successful round stores "closed" over whatever a stopped process left behind ("open").
        self._vouched = False

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            url = outbox_settings.BROKER_URL
            if not url:
                raise ConfigurationError("no broker URL: set OUTBOX_BROKER_URL or CELERY_BROKER_URL")
            self._transport = self._keeping_leases(transport_for_url(url, window=outbox_settings.CONFIRM_WINDOW))
        return self._transport

    def _keeping_leases(self, transport: Transport) -> Transport:
        """``transport``, renewing this relay's leases while it waits for the broker."""
        transport.on_wait = self.leases.tick
        return transport

    def run_once(self) -> RelayResult:
        """Relay one batch; returns its counts (all zero when nothing was due).

        Raises :class:`BrokerUnavailable` while the broker is unreachable (its circuit is open);
        claimed messages are then released with no attempt spent.
        """
        self.leases.forget()
        result, live = self._claim()
        if live:
            self._publish(live, result)
        return result

    def drain(self, max_batches: int | None = None) -> RelayResult:
        """Relay batches until nothing more is due; returns the totals (all zero when nothing was due).

        A short batch alone does not mean that: only the head of each key is claimable, so after a
        round with keyed messages, whose successors may be due now, another round follows. A short
        round without keys ends the drain, even while new messages keep arriving: the caller's wait
        (NOTIFY or poll interval) decides when to look again, so polling stays polling. Raises
        :class:`BrokerUnavailable` as :meth:`run_once` does, after the batches already done.

        Full batches overlap (with AMQP): the next batch is claimed while the broker confirms the tail
        of the one in flight, and a batch's confirms are recorded while the next one is on the wire, so
        that the database and the broker work at the same time instead of taking turns.
        """
        total = RelayResult()
        flight: _Flight | None = None
        batches = 0
        self.leases.forget()
        try:
            while max_batches is None or batches < max_batches:
                if flight is not None and flight.result.claimed < self.batch_size:
                    # A short batch lands before the next claim: the successors of its keyed messages become
                    # claimable only once it is recorded, and a short batch without keys ends the drain.
                    short, flight = flight, None
                    total += self._land(short, short.collect())
                    if not short.result.keyed:
                        break
                result, live = self._claim()
                batches += 1
                report = flight.collect() if flight is not None else None
                if report is not None and report.broker_error is not None:
                    self._release(live, result)
                    total += result
                    break  # the finally block records the batch in flight, then raises
                landed, flight = flight, self._take_off(live, result)
                if landed is not None:
                    assert report is not None
                    total += self._land(landed, report)
                if flight is None:
                    total += result
                    # A landed batch with keyed messages may have made their successors due: claim again.
                    if self._is_last(result) and not (landed is not None and landed.result.keyed):
                        break
        finally:
            if flight is not None:
                total += self._land(flight, flight.collect())
        return total

    def _is_last(self, result: RelayResult) -> bool:
        return result.claimed < self.batch_size and not result.keyed

    def _claim(self) -> tuple[RelayResult, list[Claimed]]:
        """Lease the next batch; returns its counts so far and the messages to publish (expired dropped)."""
        if not self.breaker.allow():
            raise BrokerUnavailable(f"broker unavailable, next try in {self.breaker.remaining():.1f}s: "
                                    f"{self.breaker.last_reason}")
        messages = OutboxMessage.objects.using(self.using).claim(
            self.batch_size, self.owner, timedelta(seconds=outbox_settings.LEASE_SECONDS),
            outbox_settings.DEAD_BLOCKS_KEY)
        self.leases.took(messages)
        result = RelayResult(claimed=len(messages), keyed=sum(m.key is not None for m in messages))
        if not messages and self.breaker.state is State.HALF_OPEN:
            self._probe()
        return result, self._drop_expired(messages, result)

    def _probe(self) -> None:
        """The probe's round had nothing to send: connect (an empty batch) so that the breaker gets its
        verdict now; without one it would stay half-open, refusing every later round."""
        self._settle_breaker(self.transport.publish(outbox_settings.EXCHANGE, [], mandatory=outbox_settings.MANDATORY,
                                                    timeout=outbox_settings.CONFIRM_TIMEOUT))

    def _take_off(self, messages: list[Claimed], result: RelayResult) -> _Flight | None:
        """Start publishing a batch and return it in flight (a transport that never waits returns it collected);
        None when it was published (and recorded) at once: nothing to send, several exchanges, or a probe of
        the broker."""
        groups = _by_exchange(messages)
        # A probe after an outage (breaker half-open) goes alone: the next claim waits for its verdict.
        if len(groups) != 1 or self.breaker.state is not State.CLOSED:
            if messages:
                self._publish(messages, result)
            return None
        [(exchange, group)] = groups.items()
        envelopes = _envelopes(group)
        span = tracing.start_batch(exchange, envelopes)
        in_flight = self.transport.start(exchange, envelopes, mandatory=outbox_settings.MANDATORY,
                                         timeout=outbox_settings.CONFIRM_TIMEOUT)
        return _Flight(group, result, in_flight, span=span)

    def _land(self, flight: _Flight, report: PublishReport) -> RelayResult:
        """Record a collected batch; raises BrokerUnavailable when the broker failed during it."""
        tracing.end_batch(flight.span, report)
        self._record(flight.messages, report, flight.result)
        self._settle_breaker(report)
        return flight.result

    def _release(self, messages: list[Claimed], result: RelayResult) -> None:
        """Give back a claimed batch that will not be sent now (the broker just failed): no attempt spent."""
        if messages:
            released = self._mine().release([m.id for m in messages])
            result.released += released
            self._count_lost("released", len(messages), released, result)

    def _mine(self) -> OutboxMessageQuerySet:
        """The messages this relay holds the lease of: the only ones whose results it may record."""
        return OutboxMessage.objects.using(self.using).leased_to(self.owner)

    @staticmethod
    def _count_lost(outcome: str, asked: int, recorded: int, result: RelayResult) -> None:
        """Count and log results that were not recorded because another relay took the messages over."""
        if asked > recorded:
            result.lost += asked - recorded
            logger.info("%d outbox message(s) not recorded as %s: this relay's lease ran out and another relay "
                        "(or an operator) took them over", asked - recorded, outcome,
                        extra={"action": "outbox_lease_lost"})

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _drop_expired(self, messages: list[Claimed], result: RelayResult) -> list[Claimed]:
        """Mark the messages past their expiry (on the database's clock) expired; returns the others."""
        perishable = [m.id for m in messages if m.expires_at is not None]
        expired = set(self._mine().expire(perishable)) if perishable else set()
        if expired:
            result.expired = len(expired)
            metrics.outbox_event("expired", (m.topic for m in messages if m.id in expired))
            logger.info("%d outbox message(s) expired before they could be sent", len(expired),
                        extra={"action": "outbox_expired"})
        return [m for m in messages if m.id not in expired]

    def _publish(self, messages: list[Claimed], result: RelayResult) -> None:
        for exchange, group in _by_exchange(messages).items():
            envelopes = _envelopes(group)
            span = tracing.start_batch(exchange, envelopes)
            report = self.transport.publish(exchange, envelopes, mandatory=outbox_settings.MANDATORY,
                                            timeout=outbox_settings.CONFIRM_TIMEOUT)
            tracing.end_batch(span, report)
            self._record(group, report, result)
            self._settle_breaker(report)

    def _settle_breaker(self, report: PublishReport) -> None:
        if report.broker_error is not None:
            self.breaker.failure(report.broker_error)
            raise BrokerUnavailable(report.broker_error)
        self.breaker.success()
        if not self._vouched:
            self._vouched = True
            record(self.breaker, self.using)

    def _record(self, messages: list[Claimed], report: PublishReport, result: RelayResult) -> None:
        queryset = self._mine()
        by_id = {str(m.id): m for m in messages}
        # += : a batch for several exchanges is recorded group by group into one result.
        sent = queryset.mark_sent([by_id[i].id for i in report.confirmed]) if report.confirmed else 0
        result.sent += sent
        self._count_lost("sent", len(report.confirmed), sent, result)
        metrics.outbox_event("relayed", (by_id[i].topic for i in report.confirmed))
        if report.unknown:
            self._release([by_id[i] for i in report.unknown], result)
        charged = [_charge_attempt(by_id[i], error) for i, error in report.failed.items()]
        charged += [_charge_attempt(by_id[i], f"can never be sent: {error}", final=True)
                    for i, error in report.rejected.items()]
        failures = queryset.record_failures(charged) if charged else []
        self._count_lost("failed", len(charged), len(failures), result)
        dead = sum(f.status == Status.DEAD for f in failures)
        result.dead += dead
        result.retried += len(failures) - dead
        metrics.outbox_event("dead", (f.topic for f in failures if f.status == Status.DEAD))
        metrics.outbox_event("retried", (f.topic for f in failures if f.status != Status.DEAD))
        self._log_failures(failures)

    @staticmethod
    def _log_failures(failures: list[Failure]) -> None:
        for failure in failures:
            dead = failure.status == Status.DEAD
            logger.log(logging.ERROR if dead else logging.WARNING,
                       "outbox message %s (%s) not accepted by the broker, attempt %d: %s", failure.id,
                       failure.topic, failure.attempts, failure.error,
                       extra={"action": "outbox_dead" if dead else "outbox_retry", "message_id": str(failure.id)})


@dataclass
class _Flight:
    """A batch on the wire: its messages, its counts, and the transport's handle on its confirms."""

    messages: list[Claimed]
    result: RelayResult
    in_flight: InFlight
    report: PublishReport | None = None
    span: Any = None  # the batch's OpenTelemetry span (outbox/tracing.py), None without it

    def collect(self) -> PublishReport:
        if self.report is None:
            self.report = self.in_flight.collect()
        return self.report


def _envelopes(messages: list[Claimed]) -> list[Envelope]:
    source, limit = outbox_settings.SOURCE, outbox_settings.MAX_BODY_BYTES
    return [envelope_for(message, source, _body(message.body, limit)) for message in messages]


def _body(body: bytes, limit: int) -> bytes:
    """The claimed JSON, compacted if it is over the limit: PostgreSQL returns jsonb with a space after every
    ':' and ',', and publish() measured the compact form, so what publish() accepted is not refused here."""
    return body if len(body) <= limit else dumps(json.loads(body)).encode()


def _by_exchange(messages: list[Claimed]) -> dict[str, list[Claimed]]:
    """Messages grouped by target exchange, in claim order (almost always one group: OUTBOX_EXCHANGE)."""
    groups: dict[str, list[Claimed]] = {}
    for message in messages:
        exchange = outbox_settings.EXCHANGE if message.exchange is None else message.exchange
        groups.setdefault(exchange, []).append(message)
    return groups


def _charge_attempt(message: Claimed, error: str, *, final: bool = False) -> Failure:
    """One failed attempt: retry after the wait of :func:`outbox.retry.relay_policy`, or go dead when it says
    so (at once when ``final``: the message can never be sent)."""
    attempts = message.attempts + 1
    wait = None if final else relay_policy().retry_in(attempts)
    if wait is None:
        return Failure(message.id, message.topic, attempts, error, Status.DEAD, None)
    return Failure(message.id, message.topic, attempts, error, Status.PENDING, wait)


def _lease_token() -> str:
    """``host:pid:random``: unique per relay, and tells an operator which process holds a lease."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


_default: tuple[int, Relay] | None = None


def default_relay() -> Relay:
    """This process's relay, created on first use (a forked worker gets its own connection)."""
    global _default
    if _default is None or _default[0] != os.getpid():
        _default = (os.getpid(), Relay())
    return _default[1]


def drain(max_batches: int | None = None) -> RelayResult:
    """Relay everything due with this process's relay; see :meth:`Relay.drain`."""
    return default_relay().drain(max_batches)
