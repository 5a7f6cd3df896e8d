"""A Hypothesis state machine over the real Relay and Processor (on the PostgreSQL test database) and an
in-process broker that loses confirms, duplicates, reorders and redelivers, with crashes between steps.

The broker has the consumer's two queues: the plain one hands out any message (out of order), the
ordered one is FIFO (a single-active-consumer queue). A message leaves a queue only when acked: a
consumer that crashes before its ack, or inside the handler's transaction, gets it again later.
The relay's transport can store a batch and then crash the relay before it records anything, lose
the connection with confirms outstanding, or have messages nacked.

Invariants, after every step: nothing rolled back is applied, each (handler, message) is applied at
most once, and the ordered handler applies each key's messages in sequence order. Once the system
quiesces (teardown: leases run out, relays and consumers run without faults): every committed message
is applied exactly once by each handler.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

import outbox
from inbox.consumer import InboxConsumer
from inbox.message import Message
from inbox.models import InboxMessage, KeyPosition, Status
from inbox.processing import Processor
from inbox.registry import HandlerSpec, Registry, RetryPolicy
from outbox.exceptions import BrokerUnavailable
from outbox.models import BreakerState, OutboxKey, OutboxMessage
from outbox.relay import Relay
from outbox.transports.base import PublishReport, Transport
from outbox.wire import Delivery, Envelope
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

settings.register_profile("relay-inbox-machine", max_examples=500, stateful_step_count=12, deadline=None,
                          derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TOPIC = "prop.event"
KEYS = ("k1", "k2", None)
ORDERED, PLAIN = "prop-ordered", "prop-plain"
QUIESCE_ROUNDS = 100


class Crash(BaseException):
    """The process dies here: nothing after it runs (a BaseException, so no ``except Exception`` sees it)."""


class _Rollback(Exception):
    pass


@dataclass
class Broker:
    """The consumer's two queues; every published envelope is routed to both."""

    plain: list[Envelope]
    ordered: list[Envelope]

    def route(self, envelopes: Sequence[Envelope]) -> None:
        self.plain.extend(envelopes)
        self.ordered.extend(envelopes)


class FaultyTransport(Transport):
    """The :class:`outbox.transports.base.Transport` protocol over :class:`Broker`.

    ``stored`` envelopes of each batch reach the broker; then ``ok`` confirms them all, ``crash`` kills
    the relay before it records anything, ``lost`` confirms ``confirmed`` of them and loses the
    connection (the rest unknown), ``nack`` confirms the stored ones and nacks the rest.
    """

    def __init__(self, broker: Broker, mode: str = "ok", stored: int = 99, confirmed: int = 0) -> None:
        self.broker, self.mode, self.stored, self.confirmed = broker, mode, stored, confirmed

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport:
        ids = [e.message_id for e in envelopes]
        stored = len(envelopes) if self.mode == "ok" else min(self.stored, len(envelopes))
        self.broker.route(envelopes[:stored])
        if self.mode == "crash":
            raise Crash
        if self.mode == "lost":
            done = min(self.confirmed, stored)
            return PublishReport(confirmed=ids[:done], unknown=ids[done:], broker_error="connection lost")
        if self.mode == "nack":
            return PublishReport(confirmed=ids[:stored], failed=dict.fromkeys(ids[stored:], "nacked"))
        return PublishReport(confirmed=ids)

    def close(self) -> None:
        return None


def _delivery(envelope: Envelope) -> Delivery:
    return Delivery(envelope.body, envelope.routing_key, dict(envelope.properties), dict(envelope.headers))


class RelayInboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        for model in (OutboxMessage, OutboxKey, BreakerState, InboxMessage, KeyPosition, Effect):
            model.objects.all().delete()
        self.broker = Broker([], [])
        self.committed: set[str] = set()
        self.rolled_back: set[str] = set()
        self.flaky: set[str] = set()  # their handlers fail on the first attempt (a delayed retry follows)
        self.crash_in_handler = False
        self.uids = (f"u{n}" for n in itertools.count())
        self.consumer = self._consumer()

    def _consumer(self) -> InboxConsumer:
        """A fresh consumer process (the old one crashed)."""
        handlers = Registry()
        retry = RetryPolicy(immediate=0, delayed=10**6, backoff="constant", base=0.0)
        for name, ordered in ((ORDERED, True), (PLAIN, False)):
            handlers.register(HandlerSpec(name, self._handler(name), (TOPIC,), retry, ordered=ordered, breaker=False))
        return InboxConsumer(Processor(handlers), url="amqp://unused", handlers=handlers)

    def _handler(self, name: str):
        def apply(message: Message) -> None:
            if self.crash_in_handler:
                self.crash_in_handler = False
                raise Crash
            uid = message.payload["uid"]
            if uid in self.flaky and message.attempt == 1:
                raise ConnectionError("the first attempt fails")
            Effect.objects.create(handler=name, message_id=message.id, key=message.key, sequence=message.sequence,
                                  value=uid)

        return apply

    # -- producers ----------------------------------------------------------------------------------
    @rule(keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3), commit=st.booleans(), flaky=st.booleans())
    def publish(self, keys: list[str | None], commit: bool, flaky: bool) -> None:
        uids = [next(self.uids) for _ in keys]
        try:
            with transaction.atomic():
                outbox.publish_many(outbox.OutgoingMessage(TOPIC, {"uid": uid}, key=key)
                                    for uid, key in zip(uids, keys, strict=True))
                if not commit:
                    raise _Rollback
        except _Rollback:
            self.rolled_back.update(uids)
        else:
            self.committed.update(uids)
        if flaky:
            self.flaky.update(uids)

    # -- relays -------------------------------------------------------------------------------------
    @rule(mode=st.sampled_from(["ok", "crash", "lost", "nack"]), stored=st.integers(0, 3),
          confirmed=st.integers(0, 3))
    def relay(self, mode: str, stored: int, confirmed: int) -> None:
        relay = Relay(FaultyTransport(self.broker, mode, stored, confirmed), batch_size=2)
        with contextlib.suppress(Crash, BrokerUnavailable):
            relay.drain()

    @rule()
    def time_passes(self) -> None:
        """Leases of crashed relays run out; back-offs (outbox and inbox) are over."""
        now = timezone.now()
        OutboxMessage.objects.pending().update(lease_until=None, available_at=now)
        InboxMessage.objects.filter(status=Status.WAITING).update(available_at=now)

    # -- consumers ----------------------------------------------------------------------------------
    @precondition(lambda self: self.broker.plain)
    @rule(pick=st.integers(0, 50), outcome=st.sampled_from(["ack", "crash_before_ack", "crash_in_handler"]))
    def deliver_plain(self, pick: int, outcome: str) -> None:
        """Any message of the plain queue (out of order)."""
        self._deliver(self.broker.plain, pick % len(self.broker.plain), False, outcome)

    @precondition(lambda self: self.broker.ordered)
    @rule(outcome=st.sampled_from(["ack", "crash_before_ack", "crash_in_handler"]))
    def deliver_ordered(self, outcome: str) -> None:
        """The head of the ordered queue."""
        self._deliver(self.broker.ordered, 0, True, outcome)

    def _deliver(self, queue: list[Envelope], index: int, ordered: bool, outcome: str) -> None:
        self.crash_in_handler = outcome == "crash_in_handler"
        try:
            self.consumer.handle(_delivery(queue[index]), ordered)
        except Crash:
            self.consumer = self._consumer()  # unacked: the message stays where it was
            return
        finally:
            self.crash_in_handler = False
        if outcome == "ack":
            del queue[index]
        else:
            self.consumer = self._consumer()

    @rule(crash=st.booleans())
    def run_retries(self, crash: bool) -> None:
        self.crash_in_handler = crash
        try:
            self.consumer.processor.retry_due()
        except Crash:
            self.consumer = self._consumer()
        finally:
            self.crash_in_handler = False

    # -- invariants ---------------------------------------------------------------------------------
    def _effects(self) -> list[tuple[str, str, str | None, int | None]]:
        return list(Effect.objects.order_by("id").values_list("handler", "value", "key", "sequence"))

    @invariant()
    def applied_once_in_order_and_only_if_committed(self) -> None:
        effects = self._effects()
        applied = [(handler, uid) for handler, uid, _, _ in effects]
        assert not {uid for _, uid in applied} - self.committed, "applied, but rolled back (phantom)"
        assert len(applied) == len(set(applied)), "a handler applied a message twice"
        per_key: dict[str, list[int]] = defaultdict(list)
        for handler, _, key, sequence in effects:
            if handler == ORDERED and key is not None:
                per_key[key].append(sequence)
        assert all(seqs == sorted(seqs) for seqs in per_key.values()), f"out of order: {dict(per_key)}"

    def teardown(self) -> None:
        """Quiesce without faults, then nothing committed may be missing."""
        for _ in range(QUIESCE_ROUNDS):
            self.time_passes()
            Relay(FaultyTransport(self.broker), batch_size=50).drain()
            for queue, ordered in ((self.broker.ordered, True), (self.broker.plain, False)):
                while queue:
                    self.consumer.handle(_delivery(queue.pop(0)), ordered)
            self.consumer.processor.retry_due()
            if not (OutboxMessage.objects.pending().exists() or InboxMessage.objects.waiting().exists()
                    or self.broker.plain or self.broker.ordered):
                break
        self.applied_once_in_order_and_only_if_committed()
        applied = sorted((handler, uid) for handler, uid, _, _ in self._effects())
        assert applied == sorted((h, uid) for h in (ORDERED, PLAIN) for uid in self.committed), "lost"


@override_settings(OUTBOX_MAX_ATTEMPTS=10**6, OUTBOX_EXCHANGE="prop-events")
def test_relay_and_inbox__faulty_broker_and_crashes__exactly_once_in_order(transactional_db):
    run_state_machine_as_test(RelayInboxMachine, settings=settings.get_profile("relay-inbox-machine"))
