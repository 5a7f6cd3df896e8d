"""The outbox against real PostgreSQL and RabbitMQ: what commits is published once, what rolls back never."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.db import close_old_connections, connection, transaction
from django.test import override_settings

import outbox
from outbox.breaker import State
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from outbox.transports.amqp import AmqpTransport
from tests.proxy import OutageProxy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_database_and_broker_are_the_real_ones(broker_url):
    assert connection.vendor == "postgresql"
    assert broker_url.startswith("amqp://")


def test_publish__rolled_back__nothing_reaches_the_broker(bound_queue):
    queue = bound_queue()
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.publish("orders.placed", {"order": 1})
        raise RuntimeError("domain failure")
    result = Relay().drain()
    assert result.sent == 0
    assert OutboxMessage.objects.count() == 0
    assert queue.settle(0.3) == []


def test_publish__committed__exactly_one_broker_message_with_same_id_body_headers(bound_queue):
    queue = bound_queue("orders.*")
    with transaction.atomic():
        message = outbox.publish("orders.placed", {"order": 7, "total": "12.50"}, key="order-7",
                                 headers={"tenant": "acme"})
    assert Relay().drain().sent == 1
    [received] = queue.take(1)
    assert queue.settle(0.3) == [received]
    assert received.message_id == str(message.id)
    assert json.loads(received.body) == {"order": 7, "total": "12.50"}
    assert received.content_type == "application/json"
    assert received.properties["type"] == "orders.placed"
    assert received.properties["correlation_id"] == str(message.id)
    assert received.properties["delivery_mode"] == 2
    assert received.headers["tenant"] == "acme"
    assert received.headers["key"] == "order-7"
    assert received.headers["sequence"] == 1
    assert received.headers["cloudEvents:id"] == str(message.id)
    assert received.headers["cloudEvents:specversion"] == "1.0"
    assert received.headers["cloudEvents:type"] == "orders.placed"
    message.refresh_from_db()
    assert message.status == Status.SENT and message.sent_at is not None


def test_relay__unroutable_without_unrouted_queue__stays_pending_with_attempt_charged(exchange):
    with override_settings(OUTBOX_BACKOFF_BASE=60.0, OUTBOX_UNROUTED=False):
        message = outbox.publish("nobody.listens", {"x": 1})
        result = Relay().drain()
    assert result.sent == 0 and result.retried == 1
    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert message.attempts == 1
    assert "unroutable" in message.last_error
    assert message.available_at > message.created_at


def test_relay__poison_message__dead_after_max_attempts_and_other_keys_flow_on(bound_queue):
    with override_settings(OUTBOX_MAX_ATTEMPTS=3, OUTBOX_BACKOFF_BASE=0.001, OUTBOX_BACKOFF_CAP=0.001,
                           OUTBOX_UNROUTED=False):  # no alternate exchange: the broker returns it, every time
        queue = bound_queue("good.*")
        poison = outbox.publish("unroutable.topic", {"x": 1}, key="k1")
        goods = [outbox.publish("good.event", {"n": n}, key=f"k{n}") for n in range(2, 6)]
        relay = Relay()
        for _ in range(3):
            OutboxMessage.objects.filter(pk=poison.pk).update(available_at=poison.created_at)
            relay.drain()
    poison.refresh_from_db()
    assert poison.status == Status.DEAD and poison.attempts == 3
    assert {r.message_id for r in queue.take(4)} == {str(m.id) for m in goods}


#: What cannot be encoded as AMQP -> (the row's fields, as written, and what last_error names).
UNENCODABLE = {
    # 200 characters pass publish()'s check, but 400 UTF-8 bytes do not fit an AMQP short string.
    "correlation-id": ({"correlation_id": "é" * 200}, "short string"),
    # A row written by raw SQL (or before routing keys were checked): 200 characters fit the column, but not
    # basic.publish's short string. py-amqp's struct.error used to stop every batch the row was in.
    "routing-key": ({"routing_key": "enc." + "é" * 200}, "routing key"),
}


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
def test_relay__message_that_cannot_be_encoded__fails_alone_and_the_batch_is_sent(bound_queue, case):
    fields, named = UNENCODABLE[case]
    queue = bound_queue("enc.*")
    with override_settings(OUTBOX_BACKOFF_BASE=60.0):
        bad = outbox.publish("enc.bad", {"x": 1})
        OutboxMessage.objects.filter(pk=bad.pk).update(**fields)
        goods = [outbox.publish("enc.good", {"n": n}) for n in range(3)]
        result = Relay().drain()
    assert (result.sent, result.retried) == (3, 1)
    assert {r.message_id for r in queue.take(3)} == {str(m.id) for m in goods}
    bad.refresh_from_db()
    assert bad.status == Status.PENDING and bad.attempts == 1
    assert "cannot be encoded" in bad.last_error and named in bad.last_error


def test_relay_drain__short_round_without_keys__ends_the_drain(bound_queue, monkeypatch):
    bound_queue("short.*")
    for n in range(3):
        outbox.publish("short.event", {"n": n})
    relay = Relay(batch_size=10)
    claims = []
    original = relay._claim

    def counted():
        claims.append(original())
        if len(claims) == 1:  # a message that commits while the first round runs waits for the next drain
            outbox.publish("short.event", {"n": 99})
        return claims[-1]

    monkeypatch.setattr(relay, "_claim", counted)
    assert relay.drain().sent == 3
    assert len(claims) == 1
    assert OutboxMessage.objects.filter(status=Status.PENDING).count() == 1


def test_relay_drain__keyed_messages__rounds_go_on_until_every_successor_is_sent(bound_queue, monkeypatch):
    queue = bound_queue("chain.*")
    messages = [outbox.publish("chain.step", {"n": n}, key="chain-1") for n in range(4)]
    relay = Relay(batch_size=10)
    claims = []
    original = relay._claim
    monkeypatch.setattr(relay, "_claim", lambda: claims.append(original()) or claims[-1])
    result = relay.drain()
    assert result.sent == 4
    assert [r.message_id for r in queue.take(4)] == [str(m.id) for m in messages]
    # Each short batch is recorded before the next claim, so every claim finds the chain's next message;
    # the fifth finds nothing and ends the drain.
    assert [claimed.claimed for claimed, _ in claims] == [1, 1, 1, 1, 0]


def test_relays__three_concurrent_drain_10000__each_published_exactly_once(bound_queue):
    queue = bound_queue()
    outbox.publish_many(outbox.OutgoingMessage("bulk.event", {"n": n}, key=f"key-{n % 50}" if n % 2 else None)
                        for n in range(10_000))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            relay = Relay(batch_size=200)
            while relay.drain().claimed:
                pass
            relay.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    received = queue.take(10_000, timeout=60)
    counts = Counter(r.message_id for r in queue.settle(0.5))
    assert len(received) == 10_000
    assert max(counts.values()) == 1
    assert OutboxMessage.objects.pending().count() == 0


def test_relay__broker_down_while_writing__messages_wait_then_all_arrive_once(bound_queue, broker_url):
    queue = bound_queue()
    target = urlsplit(broker_url)
    proxy = OutageProxy((target.hostname or "127.0.0.1", target.port or 5672))
    relay = Relay(AmqpTransport(proxy.url()))
    try:
        outbox.publish("outage.event", {"n": 0})
        assert relay.drain().sent == 1
        proxy.cut()
        written = [outbox.publish("outage.event", {"n": n}, key="k") for n in range(1, 21)]
        with pytest.raises(outbox_exceptions().BrokerUnavailable):
            relay.drain()
        assert OutboxMessage.objects.pending().count() == 20
        assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {0}
        proxy.restore()
        relay.breaker.cooldown = 0  # let the next round probe at once instead of after the cool-down
        while OutboxMessage.objects.pending().exists():
            relay.drain()
    finally:
        relay.close()
        proxy.close()
    received = queue.take(21)
    counts = Counter(r.message_id for r in queue.settle(0.3))
    assert {str(m.id) for m in written} <= set(counts)
    assert max(counts.values()) == 1
    assert [json.loads(r.body)["n"] for r in received[1:]] == list(range(1, 21))


def outbox_exceptions():
    from outbox import exceptions

    return exceptions


class CutOnSecondBatch(AmqpTransport):
    """Cuts the broker connection just as the second batch starts, while the first is still unrecorded."""

    def __init__(self, proxy: OutageProxy) -> None:
        super().__init__(proxy.url())
        self.proxy = proxy
        self.starts = 0

    def start(self, exchange, envelopes, **kwargs):
        self.starts += 1
        if self.starts == 2:
            self.proxy.cut()
        return super().start(exchange, envelopes, **kwargs)


def test_relay_drain__broker_lost_with_a_batch_in_flight__nothing_charged_and_each_sent_once(bound_queue, broker_url):
    queue = bound_queue("pipe.*")
    target = urlsplit(broker_url)
    proxy = OutageProxy((target.hostname or "127.0.0.1", target.port or 5672))
    relay = Relay(CutOnSecondBatch(proxy), batch_size=100)
    try:
        written = outbox.publish_many(outbox.OutgoingMessage("pipe.event", {"n": n}) for n in range(350))
        with pytest.raises(outbox_exceptions().BrokerUnavailable):
            relay.drain()
        assert OutboxMessage.objects.filter(status=Status.SENT).count() == 100  # the first batch, recorded
        pending = OutboxMessage.objects.pending()
        assert pending.count() == 250
        assert not pending.filter(lease_until__isnull=False).exists()  # in flight and claimed ahead: released
        assert set(pending.values_list("attempts", flat=True)) == {0}
        proxy.restore()
        relay.breaker.cooldown = 0
        while OutboxMessage.objects.pending().exists():
            relay.drain()
    finally:
        relay.close()
        proxy.close()
    queue.take(350)
    counts = Counter(r.message_id for r in queue.settle(0.3))  # everything received, the 350 taken included
    assert set(counts) == {str(m.id) for m in written}
    assert max(counts.values()) == 1


def drain_with_breaker_closed(queue, expected):
    """Drain in batches of 200; the breaker must stay closed and the queue receive exactly ``expected``."""
    relay = Relay(batch_size=200)
    result = relay.drain()
    relay.close()
    assert relay.breaker.state is State.CLOSED
    queue.take(len(expected))
    assert {r.message_id for r in queue.settle(0.3)} == {str(m.id) for m in expected}
    return result


def test_relay__oversized_row_among_1000_good__the_1000_arrive_and_it_is_dead_naming_its_size(bound_queue):
    queue = bound_queue("mixed.*")
    bad = outbox.publish("mixed.event", {"n": -1})
    # A row that slipped past publish() (written before the size check, or by raw SQL): its header frame
    # (140 KB) exceeds RabbitMQ's frame_max, which used to close the connection on every batch it led.
    OutboxMessage.objects.filter(pk=bad.pk).update(headers={"blob": "x" * 140_000})
    good = outbox.publish_many(outbox.OutgoingMessage("mixed.event", {"n": n}) for n in range(1000))
    result = drain_with_breaker_closed(queue, good)
    assert (result.sent, result.dead, result.released) == (1000, 1, 0)
    bad.refresh_from_db()
    assert bad.status == Status.DEAD and bad.attempts == 1
    assert "can never be sent" in bad.last_error and "65,536" in bad.last_error
    assert re.search(r"14\d,\d{3} bytes", bad.last_error)


def test_relay__oversized_body_row__dead_at_once_and_the_others_sent(bound_queue, settings):
    queue = bound_queue("body.*")
    settings.OUTBOX_MAX_BODY_BYTES = 4096
    bad = outbox.publish("body.event", {"n": -1})
    OutboxMessage.objects.filter(pk=bad.pk).update(payload={"blob": "x" * 5000})
    good = [outbox.publish("body.event", {"n": n}) for n in range(3)]
    assert Relay().drain().sent == 3
    assert {r.message_id for r in queue.take(3)} == {str(m.id) for m in good}
    bad.refresh_from_db()
    assert bad.status == Status.DEAD and "5,0" in bad.last_error and "OUTBOX_MAX_BODY_BYTES" in bad.last_error


def test_relay__body_at_the_limit_as_published__sent_though_the_database_returns_it_with_spaces(bound_queue,
                                                                                                   settings):
    queue = bound_queue("spaced.*")
    settings.OUTBOX_MAX_BODY_BYTES = 1000
    payload = {"n": list(range(240))}  # compact JSON just under 1,000 bytes; jsonb's text form is longer
    assert len(json.dumps(payload, separators=(",", ":"))) <= 1000 < len(json.dumps(payload))
    message = outbox.publish("spaced.event", payload)
    assert Relay().drain().sent == 1
    [received] = queue.take(1)
    assert received.message_id == str(message.id) and json.loads(received.body) == payload


def test_relay__broker_closes_the_connection_over_one_message__only_it_is_charged(bound_queue, settings):
    queue = bound_queue("refused.*")
    settings.OUTBOX_MAX_HEADER_BYTES = 1_000_000  # past the relay's own check: RabbitMQ's frame_max refuses it
    settings.OUTBOX_BACKOFF_BASE = 60.0
    good = outbox.publish_many(outbox.OutgoingMessage("refused.event", {"n": n}) for n in range(300))
    bad = outbox.publish("refused.event", {"n": -1}, headers={"blob": "x" * 140_000})
    later = outbox.publish_many(outbox.OutgoingMessage("refused.event", {"n": n}) for n in range(300, 600))
    result = drain_with_breaker_closed(queue, good + later)
    assert (result.sent, result.retried, result.released) == (600, 1, 0)
    bad.refresh_from_db()
    assert bad.status == Status.PENDING and bad.attempts == 1
    assert "frame_too_large" in bad.last_error
