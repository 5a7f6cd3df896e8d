"""The stored circuit breaker states tell the truth, or say they do not know: a successful relay round stores
"closed" even in a fresh process, a probe with nothing to send still gets its verdict, and an open state
that its process stopped refreshing is shown as unknown, not open."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

import outbox
from outbox import status
from outbox.breaker import CircuitBreaker, State
from outbox.breaker_state import STALE_MARGIN, record
from outbox.exceptions import BrokerUnavailable
from outbox.metrics import StatusCollector
from outbox.models import BreakerState, OutboxMessage
from outbox.relay import Relay
from outbox.transports.amqp import AmqpTransport
from tests.proxy import OutageProxy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def status_text() -> str:
    out = io.StringIO()
    call_command("messaging_status", stdout=out)
    return out.getvalue()


def stored_breaker(name: str = "outbox-relay") -> status.Breaker:
    [breaker] = [b for b in status.collect().breakers if b.name == name]
    return breaker


def breaker_gauge() -> dict[str, float]:
    [gauge] = [m for m in StatusCollector().collect() if m.name == "messaging_breaker_open"]
    return {s.labels["name"]: s.value for s in gauge.samples}


def test_relay_breaker__left_open_by_stopped_process__successful_once_run_stores_closed(bound_queue):
    queue = bound_queue()
    BreakerState.objects.create(name="outbox-relay", state="open", failures=3, reason="connection refused",
                                stale_at=timezone.now() + timedelta(hours=1))
    assert stored_breaker().open and "outbox-relay: open (3 failures)" in status_text()
    outbox.publish("orders.placed", {"order": 1})

    call_command("outbox_relay", "--once", stdout=io.StringIO())

    assert len(queue.take(1)) == 1
    breaker = stored_breaker()
    assert (breaker.state, breaker.open, breaker.stale) == ("closed", False, False)
    assert "outbox-relay: closed (0 failures)" in status_text()
    assert breaker_gauge() == {"outbox-relay": 0.0}


@contextlib.contextmanager
def relay_opened_by_outage(broker_url: str) -> Iterator[tuple[Relay, OutageProxy]]:
    """A relay whose breaker an outage opened (through a cut proxy), with nothing left to send, its
    cool-down over; the proxy is still cut."""
    target = urlsplit(broker_url)
    proxy = OutageProxy((target.hostname or "127.0.0.1", target.port or 5672))
    relay = Relay(AmqpTransport(proxy.url()))
    try:
        proxy.cut()
        outbox.publish("orders.placed", {"order": 1})
        with pytest.raises(BrokerUnavailable):
            relay.drain()
        assert stored_breaker().state == "open"
        OutboxMessage.objects.all().delete()  # an operator discarded it: the probe round has nothing to send
        relay.breaker.cooldown = 0  # let the next round probe at once instead of after the cool-down
        yield relay, proxy
    finally:
        relay.close()
        proxy.close()


def test_relay_breaker__broker_back_with_nothing_to_send__probe_closes_it(broker_url, exchange):
    with relay_opened_by_outage(broker_url) as (relay, proxy):
        proxy.restore()

        assert relay.drain().claimed == 0
        assert relay.drain().claimed == 0  # still closed: later rounds are not refused

    assert relay.breaker.state is State.CLOSED
    assert stored_breaker().state == "closed"


def test_relay_breaker__probe_with_nothing_to_send_while_broker_down__stays_open_and_refreshed(broker_url,
                                                                                            exchange):
    with relay_opened_by_outage(broker_url) as (relay, _proxy):
        first = BreakerState.objects.get(name="outbox-relay")

        with pytest.raises(BrokerUnavailable):
            relay.drain()

    assert relay.breaker.state is State.OPEN
    stored = BreakerState.objects.get(name="outbox-relay")
    assert (stored.state, stored.failures) == ("open", 2)
    assert stored.updated_at > first.updated_at and stored.stale_at > first.stale_at


def test_breaker_state__open_not_refreshed_past_cap_and_margin__shown_unknown_not_open():
    breaker = CircuitBreaker("billing", threshold=1, cooldown=5, cooldown_cap=30)
    breaker.failure("ConnectionError: payment gateway down")
    record(breaker)
    stored = BreakerState.objects.get(name="billing")
    assert stored.stale_at == stored.updated_at + timedelta(seconds=30 + STALE_MARGIN)
    assert stored_breaker("billing").open and breaker_gauge() == {"billing": 1.0}

    BreakerState.objects.filter(name="billing").update(stale_at=timezone.now() - timedelta(seconds=1))

    stale = stored_breaker("billing")
    assert (stale.state, stale.stale, stale.open) == ("open", True, False)
    assert breaker_gauge() == {"billing": 0.0}
    assert "billing: unknown (last seen open at " in status_text()
    assert status.collect().as_dict()["breakers"][0]["stale"] is True


def test_breaker_state__closed_again__changed_at_kept_while_state_unchanged():
    breaker = CircuitBreaker("billing", threshold=1, cooldown=5, cooldown_cap=30)
    record(breaker)
    first = BreakerState.objects.get(name="billing")
    record(breaker)
    again = BreakerState.objects.get(name="billing")
    assert (again.state, again.stale_at, again.changed_at) == ("closed", None, first.changed_at)
    assert again.updated_at > first.updated_at
