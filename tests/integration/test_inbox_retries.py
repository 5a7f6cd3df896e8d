"""A handler that fails twice, then succeeds: applied once, on attempt 3, either within one delivery (immediate
retries) or through delayed retries spaced as the handler's back-off strategy says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from inbox.conf import inbox_settings
from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from tests.integration.consuming import consume, declare_inbox_queues, retry_until
from tests.raw_amqp import publish_json, queue_state
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Slack for the work between a failure and scheduling its retry (a few milliseconds in practice).
SCHEDULING_SLACK = timedelta(seconds=0.1)


class Flaky(RuntimeError):
    pass


@dataclass(frozen=True)
class Call:
    attempt: int
    at: datetime
    available_at: datetime | None


def fail_twice(calls: list[Call], name: str):
    """A handler failing on attempts 1 and 2; records each call with the retry time its row had then."""

    def handle(message):
        row = InboxMessage.objects.get(handler=name, message_id=message.id)
        calls.append(Call(message.attempt, timezone.now(), row.available_at))
        if message.attempt < 3:
            raise Flaky(f"attempt {message.attempt} failed")
        Effect.objects.create(handler=name, message_id=message.id, value={"attempt": message.attempt})

    return handle


def failed_at(row: InboxMessage, index: int) -> datetime:
    return datetime.fromisoformat(row.history[index]["at"])


@pytest.mark.parametrize(("backoff", "base", "delays"), [
    pytest.param("constant", 0.2, [(0.2, 0.2), (0.2, 0.2)], id="constant"),
    pytest.param("linear", 0.15, [(0.15, 0.15), (0.3, 0.3)], id="linear"),
    pytest.param("exponential_jitter", 0.1, [(0.1, 0.15), (0.2, 0.3)], id="exponential-jitter"),
])
def test_handler_fails_twice__delayed_retries_spaced_by_strategy__applied_once_on_attempt_3(
        handlers, inbox_queue, broker_url, exchange, backoff, base, delays):
    calls: list[Call] = []
    handlers("orders.*", name="flaky", immediate_retries=0, delayed_retries=3, backoff=backoff,
             backoff_base=base, backoff_cap=10.0)(fail_twice(calls, "flaky"))
    declare_inbox_queues()
    message_id = publish_json(broker_url, exchange, "orders.placed", {"order": 1})
    consumer = InboxConsumer()

    stats = consume(consumer=consumer)
    retry_until(consumer.processor, lambda: InboxMessage.objects.filter(status=Status.DONE).exists(),
                what="the third attempt")

    assert stats.outcomes == {"retrying": 1}
    assert [call.attempt for call in calls] == [1, 2, 3]
    row = InboxMessage.objects.get()
    assert row.status == Status.DONE and row.attempts == 3 and row.available_at is None
    assert [(h["event"], h["attempt"]) for h in row.history] == [("failed", 1), ("failed", 2)]
    for failure, ((low, high), retry) in enumerate(zip(delays, calls[1:], strict=True)):
        # The retry after failure n was scheduled the strategy's delay n after that failure ...
        wait = retry.available_at - failed_at(row, failure)
        assert timedelta(seconds=low) <= wait <= timedelta(seconds=high) + SCHEDULING_SLACK, (failure, wait)
        # ... and did not run before its time.
        assert retry.at >= retry.available_at
    assert row.error_type.endswith("Flaky") and row.error_message == "attempt 2 failed"
    assert row.first_failed_at == failed_at(row, 0) and row.last_failed_at == failed_at(row, 1)
    assert list(Effect.objects.values_list("message_id", "value")) == [(message_id, {"attempt": 3})]
    assert queue_state(broker_url, inbox_queue) == (0, 0)


def test_handler_fails_twice__default_immediate_retries__applied_on_attempt_3_in_same_delivery(
        handlers, inbox_queue, broker_url, exchange):
    assert inbox_settings.IMMEDIATE_RETRIES >= 2  # the default leaves room for two failures
    calls: list[Call] = []
    handlers("orders.*", name="flaky")(fail_twice(calls, "flaky"))
    declare_inbox_queues()
    message_id = publish_json(broker_url, exchange, "orders.placed", {"order": 1})

    stats = consume()

    assert stats.outcomes == {"applied": 1} and stats.retries_run == 0
    assert [call.attempt for call in calls] == [1, 2, 3]
    row = InboxMessage.objects.get()
    assert row.status == Status.DONE and row.attempts == 3 and row.available_at is None
    assert [(h["event"], h["attempt"]) for h in row.history] == [("failed", 1), ("failed", 2)]
    assert list(Effect.objects.values_list("message_id", "value")) == [(message_id, {"attempt": 3})]
    assert queue_state(broker_url, inbox_queue) == (0, 0)
