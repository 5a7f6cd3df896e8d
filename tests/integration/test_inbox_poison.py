"""A poison message (its handler always fails) is dead after its immediate and delayed retries, with what it takes
to diagnose it; identical failures share a group; meanwhile the worker goes on applying other messages."""

from __future__ import annotations

import functools

import pytest

from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from tests.integration.consuming import consume, declare_inbox_queues, retry_until
from tests.raw_amqp import publish_json, queue_state
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

IMMEDIATE, DELAYED = 1, 2


def apply_order(message):
    """Fails for a poisoned order, whatever the attempt; records good ones."""
    poison = message.payload.get("poison")
    if poison == "value":
        raise ValueError(f"cannot parse order {message.payload['order']}")
    if poison == "key":
        raise KeyError("customer")
    Effect.objects.create(handler="apply-order", message_id=message.id, value=message.payload)


def test_poison_message__dead_after_immediate_and_delayed_retries__others_applied_meanwhile(
        handlers, inbox_queue, broker_url, exchange):
    # breaker=False: this test is about one message's retry limit, not about the handler's circuit.
    handlers("orders.*", name="apply-order", immediate_retries=IMMEDIATE, delayed_retries=DELAYED,
             backoff="constant", backoff_base=0.05, breaker=False)(apply_order)
    declare_inbox_queues()
    publish = functools.partial(publish_json, broker_url, exchange, "orders.placed")
    poison_1 = publish({"order": 1, "poison": "value"})
    good_1 = publish({"order": 2})
    poison_2 = publish({"order": 3, "poison": "value"})
    good_2 = publish({"order": 4})
    other_bug = publish({"order": 5, "poison": "key"})
    consumer = InboxConsumer()

    stats = consume(idle_timeout=0.05, consumer=consumer)

    assert stats.outcomes == {"applied": 2, "retrying": 3}
    assert set(Effect.objects.values_list("message_id", flat=True)) == {good_1, good_2}
    retry_until(consumer.processor, lambda: InboxMessage.objects.filter(status=Status.DEAD).count() == 3,
                what="the poison messages dead")
    rows = {row.message_id: row for row in InboxMessage.objects.all()}
    limit = 1 + IMMEDIATE + DELAYED
    for message_id in (poison_1, poison_2, other_bug):
        row = rows[message_id]
        assert row.status == Status.DEAD and row.attempts == limit and row.available_at is None
        assert [(h["event"], h["attempt"]) for h in row.history] == [("failed", n) for n in range(1, limit + 1)]
        assert row.first_failed_at < row.last_failed_at <= row.processed_at
        assert row.traceback.startswith("Traceback") and "apply_order" in row.traceback
        assert len(row.error_group) == 16
    assert (rows[poison_1].error_type, rows[poison_1].error_message) == ("builtins.ValueError", "cannot parse order 1")
    assert rows[poison_1].traceback.rstrip().endswith("ValueError: cannot parse order 1")
    assert rows[poison_2].error_message == "cannot parse order 3"
    assert rows[poison_1].error_group == rows[poison_2].error_group  # same bug, same place
    assert rows[other_bug].error_type == "builtins.KeyError"
    assert rows[other_bug].error_group != rows[poison_1].error_group
    assert {rows[good_1].status, rows[good_2].status} == {Status.DONE}
    assert all(rows[good].processed_at < rows[poison_1].last_failed_at for good in (good_1, good_2))
    assert Effect.objects.count() == 2
    assert queue_state(broker_url, inbox_queue) == (0, 0)
