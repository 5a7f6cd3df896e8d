"""A message applied at its first attempt writes its inbox row once (an INSERT, no UPDATE); every other
outcome still stores the row's real state."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inbox.message import Message
from inbox.models import InboxMessage, Status
from inbox.processing import Outcome, Processor
from inbox.registry import registry
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def message() -> Message:
    return Message(id=str(uuid.uuid4()), topic="orders.placed", payload={"order": 1})


def inbox_updates(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith("UPDATE") and InboxMessage._meta.db_table in q["sql"]]


def test_first_attempt_succeeds__row_inserted_as_done__never_updated(handlers):
    @handlers("orders.*", name="record")
    def record(msg):
        Effect.objects.create(handler="record", message_id=msg.id)

    sent = message()
    with CaptureQueriesContext(connection) as queries:
        assert Processor().deliver(sent, registry.get("record")) is Outcome.APPLIED
    assert inbox_updates(queries) == []
    row = InboxMessage.objects.get(message_id=sent.id)
    assert (row.status, row.attempts, row.processed_at, row.available_at) == (Status.DONE, 1, row.received_at, None)
    assert row.history == [] and Effect.objects.count() == 1


def test_first_attempt_fails__immediate_retry_succeeds__row_updated_with_attempts_and_history(handlers):
    @handlers("orders.*", name="flaky", immediate_retries=1)
    def flaky(msg):
        if msg.attempt == 1:
            raise RuntimeError("once")
        Effect.objects.create(handler="flaky", message_id=msg.id)

    sent = message()
    assert Processor().deliver(sent, registry.get("flaky")) is Outcome.APPLIED
    row = InboxMessage.objects.get(message_id=sent.id)
    assert (row.status, row.attempts) == (Status.DONE, 2)
    assert [entry["event"] for entry in row.history] == ["failed"] and row.processed_at >= row.received_at


def test_every_attempt_fails__row_stored_waiting_not_done(handlers):
    @handlers("orders.*", name="broken", immediate_retries=0, breaker=False)
    def broken(msg):
        raise RuntimeError("always")

    sent = message()
    assert Processor().deliver(sent, registry.get("broken")) is Outcome.RETRYING
    row = InboxMessage.objects.get(message_id=sent.id)
    assert (row.status, row.attempts, row.processed_at) == (Status.WAITING, 1, None)
    assert row.available_at is not None and not Effect.objects.exists()
