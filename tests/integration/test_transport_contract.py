"""One contract for every transport, both sides: publishing (AmqpTransport on the real RabbitMQ, MemoryTransport
on kombu's memory broker) and consuming (every consumer the scheme registry serves).

No database: envelopes are built from unsaved outbox rows, exactly as the relay builds them.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import kombu
import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from django.utils import timezone

from outbox.models import OutboxMessage
from outbox.transports import base as transports
from outbox.transports import registry
from outbox.transports.amqp import AmqpTransport
from outbox.transports.amqp_consumer import AmqpConsumer
from outbox.transports.memory import MemoryConsumer, MemoryTransport
from outbox.wire import Envelope, envelope_for
from tests.broker import BoundQueue, Received, delete_exchange, take_unrouted
from tests.memory_broker import MemoryBoundQueue

pytestmark = [pytest.mark.integration]

WINDOW = 4


class Reader(Protocol):
    def take(self, count: int, timeout: float = ...) -> list[Received]: ...

    def settle(self, quiet: float = ...) -> list[Received]: ...

    def close(self) -> None: ...


@dataclass
class Broker:
    """A transport under test, its own exchange, and a way to bind queues to that exchange."""

    transport: transports.Transport
    exchange: str
    bind: Callable[[str], Reader]
    url: str = "memory://"


def envelope(topic: str, n: int, **headers: object) -> Envelope:
    row = OutboxMessage(id=uuid.uuid4(), topic=topic, payload={"n": n}, headers={"tenant": "acme", **headers},
                        key="contract", seq=n, created_at=timezone.now())
    return envelope_for(row, "/contract-tests")


def ids(envelopes: list[Envelope]) -> list[str]:
    return [e.message_id for e in envelopes]


def amqp_broker(exchange: str, readers: list[Reader]) -> Broker:
    from django.conf import settings

    url = str(settings.OUTBOX_BROKER_URL)
    assert url.startswith("amqp://"), "the AMQP contract runs against the real RabbitMQ"

    def bind(pattern: str) -> Reader:
        readers.append(BoundQueue(url, exchange, pattern))
        return readers[-1]

    return Broker(AmqpTransport(url, window=WINDOW), exchange, bind, url)


def memory_broker(exchange: str, readers: list[Reader]) -> Broker:
    def bind(pattern: str) -> Reader:
        readers.append(MemoryBoundQueue(exchange, pattern))
        return readers[-1]

    return Broker(MemoryTransport(), exchange, bind)


@pytest.fixture(params=[pytest.param(amqp_broker, id="amqp"), pytest.param(memory_broker, id="memory")])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    readers: list[Reader] = []
    exchange = f"contract-{uuid.uuid4().hex[:10]}"
    made = request.param(exchange, readers)
    yield made
    for reader in readers:
        reader.close()
    made.transport.close()
    if request.param is amqp_broker:
        from django.conf import settings

        delete_exchange(str(settings.OUTBOX_BROKER_URL), exchange)


class TestTransportContract:
    def test_publish__routed_messages__all_confirmed_and_delivered_as_sent(self, broker):
        queue = broker.bind("orders.*")
        batch = [envelope("orders.placed", n) for n in range(1, 4)]
        report = broker.transport.publish(broker.exchange, batch)
        assert report.confirmed == ids(batch)
        assert (report.failed, report.unknown, report.broker_error) == ({}, [], None)
        received = queue.take(3)
        assert [r.message_id for r in received] == ids(batch)
        assert [json.loads(r.body) for r in received] == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert received[0].routing_key == "orders.placed"
        assert received[0].content_type == "application/json"
        assert received[0].headers["tenant"] == "acme"
        assert received[0].headers["sequence"] == 1
        assert received[0].headers["cloudEvents:id"] == batch[0].message_id

    def test_publish__no_queue_bound_with_mandatory__failed_unroutable(self, broker, settings):
        settings.OUTBOX_UNROUTED = False  # no alternate exchange: the broker returns it
        queue = broker.bind("orders.*")
        lost = envelope("nobody.listens", 1)
        report = broker.transport.publish(broker.exchange, [lost], mandatory=True)
        assert report.confirmed == [] and report.unknown == []
        assert list(report.failed) == [lost.message_id]
        assert report.failed[lost.message_id].startswith("unroutable")
        assert queue.settle(0.2) == []

    def test_publish__no_queue_bound_without_mandatory__confirmed_not_failed(self, broker):
        broker.bind("orders.*")
        lost = envelope("nobody.listens", 1)
        report = broker.transport.publish(broker.exchange, [lost], mandatory=False)
        assert report.confirmed == [lost.message_id]
        assert report.failed == {}

    def test_publish__no_queue_bound_with_unrouted_queue__confirmed_and_kept_there(self, broker):
        queue = broker.bind("orders.*")
        batch = [envelope("orders.placed", 1), envelope("nobody.listens", 2), envelope("other.topic", 3)]
        report = broker.transport.publish(broker.exchange, batch, mandatory=True)
        assert report.confirmed == ids(batch) and (report.failed, report.unknown) == ({}, [])
        assert [r.message_id for r in queue.take(1)] == ids(batch[:1])
        assert take_unrouted(broker.url, broker.exchange) == ids(batch[1:])
        assert queue.settle(0.2) == queue.received

    def test_publish__mixed_batch__verdict_per_message_and_only_routed_delivered(self, broker, settings):
        settings.OUTBOX_UNROUTED = False  # no alternate exchange: the broker returns the unroutable ones
        queue = broker.bind("orders.*")
        batch = [envelope("orders.placed", 1), envelope("nobody.listens", 2), envelope("orders.paid", 3),
                 envelope("other.topic", 4), envelope("orders.shipped", 5)]
        report = broker.transport.publish(broker.exchange, batch)
        routed = [batch[0], batch[2], batch[4]]
        assert sorted(report.confirmed) == sorted(ids(routed))
        assert sorted(report.failed) == sorted(ids([batch[1], batch[3]]))
        assert all(reason.startswith("unroutable") for reason in report.failed.values())
        assert report.unknown == []
        received = queue.take(3)
        assert queue.settle(0.2) == received
        assert [r.message_id for r in received] == ids(routed)

    def test_publish__batch_larger_than_window__all_confirmed_in_order(self, broker):
        queue = broker.bind("#")
        batch = [envelope("bulk.event", n) for n in range(1, WINDOW * 6 + 2)]
        report = broker.transport.publish(broker.exchange, batch)
        assert sorted(report.confirmed) == sorted(ids(batch))
        assert report.failed == {} and report.unknown == []
        assert [r.message_id for r in queue.take(len(batch))] == ids(batch)

    def test_publish__headers_over_max_header_bytes__rejected_unsent_and_the_rest_confirmed(self, broker):
        queue = broker.bind("#")
        batch = [envelope("big.event", n) for n in range(1, 4)]
        big = envelope("big.event", 9, blob="x" * 70_000)
        report = broker.transport.publish(broker.exchange, [batch[0], big, *batch[1:]])
        assert report.confirmed == ids(batch)
        assert list(report.rejected) == [big.message_id]
        assert "OUTBOX_MAX_HEADER_BYTES" in report.rejected[big.message_id]
        assert (report.failed, report.unknown, report.broker_error) == ({}, [], None)
        queue.take(3)
        assert [r.message_id for r in queue.settle(0.2)] == ids(batch)

    def test_publish__body_over_max_body_bytes__rejected_unsent_and_the_rest_confirmed(self, broker):
        queue = broker.bind("#")
        batch = [envelope("big.event", n) for n in range(1, 4)]
        big = dataclasses.replace(envelope("big.event", 9), body=json.dumps({"blob": "x" * 600}).encode())
        with override_settings(OUTBOX_MAX_BODY_BYTES=500):
            report = broker.transport.publish(broker.exchange, [*batch, big])
        assert report.confirmed == ids(batch)
        assert list(report.rejected) == [big.message_id]
        assert f"{len(big.body)} bytes" in report.rejected[big.message_id]
        assert "500 bytes" in report.rejected[big.message_id]
        assert [r.message_id for r in queue.take(3)] == ids(batch)

    def test_publish__twice_on_one_transport__second_batch_confirmed_too(self, broker):
        queue = broker.bind("#")
        first, second = [envelope("a.b", 1), envelope("a.b", 2)], [envelope("a.b", 3)]
        assert broker.transport.publish(broker.exchange, first).confirmed == ids(first)
        assert broker.transport.publish(broker.exchange, second).confirmed == ids(second)
        assert [r.message_id for r in queue.take(3)] == ids(first + second)


@pytest.fixture
def amqp() -> Iterator[Broker]:
    readers: list[Reader] = []
    made = amqp_broker(f"contract-{uuid.uuid4().hex[:10]}", readers)
    yield made
    for reader in readers:
        reader.close()
    made.transport.close()
    from django.conf import settings
    from kombu import Connection

    with Connection(str(settings.OUTBOX_BROKER_URL)) as conn:
        conn.default_channel.exchange_delete(made.exchange)


def refused_by_user_id(n: int) -> Envelope:
    """A message RabbitMQ refuses by closing the channel: its user_id is not the connection's user."""
    good = envelope("refused.event", n)
    return Envelope(good.message_id, good.routing_key, good.body, {**good.properties, "user_id": "intruder"},
                    good.headers)


class TestAmqpBrokerRefusesOneMessage:
    """The broker closes the channel or connection over one message: that message fails, the batch goes on."""

    @pytest.mark.parametrize(("bad", "limit", "reason"), [
        pytest.param(lambda: envelope("refused.event", 99, blob="x" * 140_000), 1_000_000, "frame_too_large",
                     id="header-frame-over-frame-max-connection-closed"),
        pytest.param(lambda: refused_by_user_id(99), 65_536, "PRECONDITION_FAILED",
                     id="precondition-failed-on-publish-channel-closed"),
    ])
    def test_publish__broker_refuses_one_message__only_it_fails_and_the_rest_confirmed(self, amqp, bad, limit,
                                                                                        reason):
        queue = amqp.bind("#")
        good = [envelope("refused.event", n) for n in range(WINDOW * 3)]
        refused = bad()
        with override_settings(OUTBOX_MAX_HEADER_BYTES=limit):  # past the transport's check: the broker refuses
            report = amqp.transport.publish(amqp.exchange, [*good[:5], refused, *good[5:]])
        assert report.broker_error is None and report.unknown == [] and report.rejected == {}
        assert list(report.failed) == [refused.message_id]
        assert reason in report.failed[refused.message_id]
        assert sorted(report.confirmed) == sorted(ids(good))
        queue.take(len(good))
        assert {r.message_id for r in queue.settle(0.3)} == set(ids(good))

    def test_publish__two_refused_messages_in_one_batch__each_fails_alone(self, amqp):
        amqp.bind("#")
        good = [envelope("refused.event", n) for n in range(10)]
        bad = [refused_by_user_id(98), refused_by_user_id(99)]
        report = amqp.transport.publish(amqp.exchange, [bad[0], *good[:5], bad[1], *good[5:]])
        assert report.broker_error is None
        assert sorted(report.failed) == sorted(ids(bad))
        assert sorted(report.confirmed) == sorted(ids(good))

    def test_publish__after_a_refusal__next_batch_on_the_same_transport_confirmed(self, amqp):
        queue = amqp.bind("#")
        amqp.transport.publish(amqp.exchange, [refused_by_user_id(1)])
        later = [envelope("refused.event", 2)]
        assert amqp.transport.publish(amqp.exchange, later).confirmed == ids(later)
        assert [r.message_id for r in queue.take(1)] == ids(later)


# The consumer side: every registered consumer implementation, each on a broker of its own kind.
CONTRACT_URLS: dict[type, Callable[[], str]] = {
    AmqpConsumer: lambda: str(django_settings.OUTBOX_BROKER_URL),
    MemoryConsumer: lambda: "memory://",
}


def consumer_implementations() -> list[type]:
    """The distinct consumer classes the registry serves (amqp://, amqps:// and pyamqp:// share one)."""
    found: list[type] = []
    for scheme in registry.schemes():
        implementation = registry._schemes[scheme].consumer
        if implementation not in found:
            found.append(implementation)  # type: ignore[arg-type]
    return found


def test_contract__every_registered_consumer__has_a_broker_to_run_the_contract_against():
    assert set(consumer_implementations()) == set(CONTRACT_URLS)


@dataclass
class Session:
    """A consumer under test with its own exchange and queues, and what it handed over so far."""

    url: str
    exchange: str
    subscriptions: list[transports.Subscription]
    consumer: transports.Consumer | None = None
    received: list[transports.Received] = dataclasses.field(default_factory=list)

    def open(self, prefetch: int = 10) -> transports.Consumer:
        self.consumer = registry.consumer_for_url(self.url, prefetch=prefetch, heartbeat=0)
        self.consumer.open(self.exchange, self.subscriptions, self.received.append)
        return self.consumer

    def publish(self, *envelopes: Envelope) -> None:
        transport = registry.transport_for_url(self.url)
        try:
            confirmed = transport.publish(self.exchange, list(envelopes), mandatory=False).confirmed
            assert sorted(confirmed) == sorted(ids(list(envelopes)))
        finally:
            transport.close()

    def take(self, count: int, timeout: float = 5.0) -> list[transports.Received]:
        """Drain until ``count`` deliveries arrived in all (failing after ``timeout`` seconds)."""
        assert self.consumer is not None
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.consumer.drain(0.2, lambda n: len(self.received) >= count)
        assert len(self.received) == count, f"{len(self.received)} of {count} deliveries arrived"
        return list(self.received)

    def reopen(self) -> transports.Consumer:
        assert self.consumer is not None
        self.consumer.close()
        self.received.clear()
        return self.open()


@pytest.fixture(params=[pytest.param(AmqpConsumer, id="amqp"), pytest.param(MemoryConsumer, id="memory")])
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    name = f"contract-{uuid.uuid4().hex[:10]}"
    url = CONTRACT_URLS[request.param]()
    made = Session(url, name, [
        transports.Subscription(f"{name}-q", ("orders.*",), queue_type="classic"),
        transports.Subscription(f"{name}-q.ordered", ("payments.#",), ordered=True, queue_type="classic")])
    yield made
    if made.consumer is not None:
        made.consumer.close()
    if request.param is AmqpConsumer:
        with kombu.Connection(url) as connection:
            for subscription in made.subscriptions:
                connection.default_channel.queue_delete(subscription.name)
        delete_exchange(url, name)


class TestConsumerContract:
    def test_consume__published_messages__each_received_as_sent_from_its_subscription(self, session):
        consumer = session.open()
        placed, paid = envelope("orders.placed", 1), envelope("payments.settled.eu", 2)
        session.publish(placed, envelope("nobody.listens", 3), paid)
        received = sorted(session.take(2), key=lambda r: r.delivery.routing_key)
        assert [r.delivery.message_id for r in received] == [placed.message_id, paid.message_id]
        assert [r.subscription.ordered for r in received] == [False, True]
        first = received[0].delivery
        assert (first.body, first.routing_key) == (placed.body, "orders.placed")
        assert first.properties["content_type"] == "application/json"
        assert first.properties["correlation_id"] == placed.message_id
        assert first.headers["tenant"] == "acme" and first.headers["sequence"] == 1
        assert first.headers["cloudEvents:id"] == placed.message_id
        assert not any(r.redelivered for r in received)
        for delivery in received:
            consumer.ack(delivery)
        assert consumer.drain(0.2, lambda n: False) == 0

    def test_consume__closed_without_ack__given_back_in_queue_order_and_flagged_redelivered(self, session):
        session.open()
        batch = [envelope("orders.placed", n) for n in range(1, 4)]
        session.publish(*batch)
        assert [r.delivery.message_id for r in session.take(3)] == ids(batch)
        consumer = session.reopen()
        again = session.take(3)
        assert [r.delivery.message_id for r in again] == ids(batch)
        assert all(r.redelivered for r in again)
        for delivery in again:
            consumer.ack(delivery)
        consumer = session.reopen()
        assert consumer.drain(0.3, lambda n: False) == 0

    def test_consume__rejected__dropped_or_requeued_as_asked(self, session):
        consumer = session.open()
        dropped, requeued = envelope("orders.placed", 1), envelope("orders.placed", 2)
        session.publish(dropped, requeued)
        first, second = session.take(2)
        consumer.reject(first)
        consumer.reject(second, requeue=True)
        again = session.take(3)[2]
        assert (again.delivery.message_id, again.redelivered) == (requeued.message_id, True)
        consumer.ack(again)
        assert session.reopen().drain(0.3, lambda n: False) == 0

    def test_drain__enough_after_two__returns_two_and_the_rest_at_the_next_drain(self, session):
        consumer = session.open()
        batch = [envelope("orders.placed", n) for n in range(1, 6)]
        session.publish(*batch)
        assert consumer.drain(5.0, lambda n: n >= 2) == 2
        assert session.take(5)[2:] and [r.delivery.message_id for r in session.received] == ids(batch)

    def test_drain__nothing_queued__returns_zero_after_the_timeout(self, session):
        consumer = session.open()
        started = time.monotonic()
        assert consumer.drain(0.3, lambda n: False) == 0
        assert 0.3 <= time.monotonic() - started < 3.0
