"""AMQP heartbeats: a broker connection that goes half-open (no FIN, no RST: a NAT or firewall forgot it) is
noticed after about two heartbeat intervals; the consumer reconnects and goes on consuming, the relay releases
its batch uncharged and publishes it on a new connection. Driven through tests/proxy.py's ``freeze()``."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.db import connections
from django.test import override_settings

import outbox
from inbox.consumer import InboxConsumer
from outbox.breaker import State
from outbox.exceptions import BrokerUnavailable
from outbox.models import OutboxMessage
from outbox.relay import Relay
from outbox.transports.amqp import AmqpTransport
from tests.proxy import OutageProxy
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Seconds between heartbeats in these tests; a half-open connection must be noticed within three of them.
BEAT = 1


@pytest.fixture
def proxy(broker_url: str) -> Iterator[OutageProxy]:
    target = urlsplit(broker_url)
    proxy = OutageProxy((target.hostname or "127.0.0.1", target.port or 5672))
    yield proxy
    proxy.close()


class ConsumerThread(threading.Thread):
    """An InboxConsumer running until ``stop`` (own database connection, closed at the end)."""

    def __init__(self, consumer: InboxConsumer) -> None:
        super().__init__(daemon=True)
        self.consumer = consumer

    def run(self) -> None:
        try:
            self.consumer.run()
        finally:
            connections.close_all()


def relay_directly(broker_url: str) -> None:
    relay = Relay(AmqpTransport(broker_url))
    try:
        relay.drain()
    finally:
        relay.close()


def test_consumer__connection_half_open__noticed_by_heartbeats_then_reconnects_and_consumes(
        handlers, inbox_queue, exchange, broker_url, proxy):
    seen: list[int] = []

    @handlers("beat.*", name="beat")
    def record(message):
        seen.append(message.payload["n"])

    stop = threading.Event()
    with override_settings(INBOX_HEARTBEAT=BEAT, OUTBOX_HEARTBEAT=0):
        worker = ConsumerThread(InboxConsumer(url=proxy.url(), stop=stop))
        worker.start()
        try:
            wait_until(lambda: worker.consumer._consuming, what="the consumer to start")
            outbox.publish("beat.one", {"n": 1})
            relay_directly(broker_url)
            wait_until(lambda: seen == [1], what="the first message")

            proxy.freeze()
            frozen_at = time.monotonic()
            wait_until(lambda: proxy.accepted == 2, timeout=10, what="the consumer to reconnect")
            noticed_after = time.monotonic() - frozen_at

            outbox.publish("beat.two", {"n": 2})
            relay_directly(broker_url)
            wait_until(lambda: 2 in seen, timeout=10, what="the message sent after the reconnect")
        finally:
            stop.set()
            worker.join(10)
    assert not worker.is_alive()
    # Two missed intervals, the tick's granularity and the 0.5 s reconnect back-off.
    assert noticed_after < 3 * BEAT + 1.0
    assert sorted(set(seen)) == [1, 2]


class FreezeOnStart(AmqpTransport):
    """Freezes the proxied connection just before the batch numbered ``at`` is sent."""

    def __init__(self, proxy: OutageProxy, at: int) -> None:
        super().__init__(proxy.url())
        self.proxy = proxy
        self.at = at
        self.starts = 0

    def start(self, exchange, envelopes, **kwargs):
        self.starts += 1
        if self.starts == self.at:
            self.proxy.freeze()
        return super().start(exchange, envelopes, **kwargs)


def drain_until_sent(relay: Relay) -> None:
    relay.breaker.cooldown = 0  # probe at once instead of after the cool-down

    def step() -> bool:
        relay.drain()
        return not OutboxMessage.objects.pending().exists()

    wait_until(step, timeout=15, what="every message to be sent")


@override_settings(OUTBOX_HEARTBEAT=BEAT, OUTBOX_CONFIRM_TIMEOUT=60.0, OUTBOX_LEASE_SECONDS=120.0)
def test_relay__connection_half_open_mid_batch__noticed_by_heartbeats_batch_released_uncharged(bound_queue, proxy):
    queue = bound_queue("beat.*")
    relay = Relay(FreezeOnStart(proxy, at=2))
    try:
        first = outbox.publish("beat.event", {"n": 0})
        assert relay.drain().sent == 1
        written = [outbox.publish("beat.event", {"n": n}) for n in range(1, 21)]
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable):
            relay.drain()
        waited = time.monotonic() - started
        pending = OutboxMessage.objects.pending()
        assert pending.count() == 20
        assert set(pending.values_list("attempts", flat=True)) == {0}
        assert not pending.filter(lease_until__isnull=False).exists()
        drain_until_sent(relay)
    finally:
        relay.close()
    assert waited < 3 * BEAT + 1.0  # the heartbeat noticed it, not the 60 s confirm timeout
    received = queue.take(21)
    counts = Counter(r.message_id for r in queue.settle(0.3))
    assert {str(m.id) for m in [first, *written]} == set(counts) == {r.message_id for r in received}
    assert max(counts.values()) == 1


@pytest.mark.parametrize("half_open", [True, False], ids=["half-open", "closed-by-the-broker"])
@override_settings(OUTBOX_HEARTBEAT=BEAT)
def test_relay__idle_connection_died__next_drain_reconnects_without_breaker_or_attempts(bound_queue, proxy,
                                                                                       half_open):
    queue = bound_queue("beat.*")
    relay = Relay(AmqpTransport(proxy.url()))
    try:
        outbox.publish("beat.event", {"n": 0})
        assert relay.drain().sent == 1
        if half_open:
            proxy.freeze()
        # Idle (nobody ticks the heartbeat between drains) until the broker gives the connection up.
        wait_until(lambda: proxy.dropped_by_target == 1, timeout=10, what="the broker to drop the idle connection")
        written = [outbox.publish("beat.event", {"n": n}) for n in range(1, 6)]
        result = relay.drain()
        assert result.sent == 5 and result.released == 0
        assert relay.breaker.state is State.CLOSED
        assert set(OutboxMessage.objects.filter(pk__in=[m.pk for m in written])
                   .values_list("attempts", flat=True)) == {0}
    finally:
        relay.close()
    assert proxy.accepted == 2
    queue.take(6)
    assert max(Counter(r.message_id for r in queue.settle(0.3)).values()) == 1
