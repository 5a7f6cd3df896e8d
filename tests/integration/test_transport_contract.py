"""One contract for every transport: AmqpTransport on the real RabbitMQ, MemoryTransport on kombu's memory broker.

No database: envelopes are built from unsaved outbox rows, exactly as the relay builds them.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest
from django.test import override_settings
from django.utils import timezone

from outbox.models import OutboxMessage
from outbox.transport import AmqpTransport, MemoryTransport, Transport
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

    transport: Transport
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
