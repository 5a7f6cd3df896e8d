"""A handler's circuit breaker opens on failures of different messages, not on one poison message failing again
and again (its own immediate retries): one bad message is not an outage, and must not pause the healthy ones."""

from __future__ import annotations

import functools

import pytest

from inbox.models import InboxMessage, Status
from outbox.models import BreakerState
from tests.integration.consuming import consume, declare_inbox_queues
from tests.raw_amqp import publish_json
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

THRESHOLD = 3


def apply_order(message):
    if message.payload.get("poison"):
        raise ValueError(f"cannot parse order {message.payload['order']}")
    Effect.objects.create(handler="apply-order", message_id=message.id, value=message.payload)


@pytest.fixture
def orders(handlers, inbox_queue, broker_url, exchange, settings):
    """Registers ``apply-order`` (immediate retries beyond the breaker's threshold) and returns a publisher."""
    settings.INBOX_BREAKER_FAILURES = THRESHOLD
    settings.INBOX_BREAKER_COOLDOWN = 60.0  # no probe during the test: what opened it stays visible
    handlers("orders.*", name="apply-order", immediate_retries=THRESHOLD + 1,
             delayed_retries=0)(apply_order)
    declare_inbox_queues()
    return functools.partial(publish_json, broker_url, exchange, "orders.placed")


def test_breaker__one_poison_message_with_immediate_retries__healthy_messages_applied_without_deferral(orders):
    poison = orders({"order": 0, "poison": True})
    healthy = [orders({"order": n}) for n in range(1, 11)]

    stats = consume()

    assert stats.outcomes == {"dead": 1, "applied": 10}
    assert set(Effect.objects.values_list("message_id", flat=True)) == set(healthy)
    row = InboxMessage.objects.get(message_id=poison)
    assert row.status == Status.DEAD and row.attempts == THRESHOLD + 2  # every immediate retry was charged
    assert not BreakerState.objects.filter(name="apply-order").exclude(state="closed").exists()


def test_breaker__different_messages_failing__opens_and_defers_the_rest(orders):
    failing = [orders({"order": n, "poison": True}) for n in range(THRESHOLD)]
    later = [orders({"order": n}) for n in range(THRESHOLD, THRESHOLD + 3)]

    stats = consume()

    assert stats.outcomes == {"dead": THRESHOLD - 1, "deferred": 1 + len(later)}
    assert BreakerState.objects.get(name="apply-order").state == "open"
    assert not Effect.objects.exists()
    deferred = InboxMessage.objects.filter(message_id__in=[failing[-1], *later])
    assert {(row.status, row.attempts) for row in deferred} == {(Status.WAITING, 0)}
