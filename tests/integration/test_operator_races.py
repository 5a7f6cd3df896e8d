"""Operator actions racing the workers: each race is driven through the seam
``outbox.transitions.before_write`` (between an action choosing its rows and writing them), by running the
retry poller, the relay or a consumer's delivery there. See the table in docs/reliability.md."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

import outbox
from inbox import operations as inbox_operations
from inbox.message import Message
from inbox.models import InboxMessage
from inbox.models import Status as InboxStatus
from inbox.processing import Outcome, Processor
from inbox.registry import registry
from outbox import operations as outbox_operations
from outbox import transitions
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from tests.admin_support import INBOX_LIST, client_for, confirm_action, staff
from tests.testapp.models import Effect
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration]

HANDLER = "race-ledger"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def ledger(handlers) -> str:
    """An ordered handler that records one Effect per application."""
    @handlers("ledger.*", name=HANDLER, ordered=True, immediate_retries=0, delayed_retries=0)
    def apply(message: Message) -> None:
        Effect.objects.create(handler=HANDLER, message_id=message.id, key=message.key, sequence=message.sequence)

    return HANDLER


@pytest.fixture
def in_the_window(monkeypatch) -> Callable[[Callable[[], object]], None]:
    """Factory: run ``work`` once, in the window between an operator action's read and its write."""
    def install(work: Callable[[], object]) -> None:
        calls: list[Any] = []

        def hook(ids: list[Any]) -> None:
            if not calls:
                calls.append(work())

        monkeypatch.setattr(transitions, "before_write", hook)

    return install


def inbox_row(status: str, *, key: str | None = None, sequence: int | None = None, days: float = 0,
              **fields: Any) -> InboxMessage:
    received = timezone.now() - timedelta(days=days)
    fields = {"message_id": uuid.uuid4().hex, "available_at": received, "attempts": 1, **fields}
    return InboxMessage.objects.create(handler=HANDLER, topic="ledger.posted", payload={"n": sequence}, key=key,
                                       sequence=sequence, status=status, received_at=received, **fields)


def applied() -> list[tuple[str, int | None]]:
    return list(Effect.objects.order_by("id").values_list("message_id", "sequence"))


def status_of(row: InboxMessage) -> str:
    row.refresh_from_db()
    return row.status


# -- inbox: retry and discard against the retry poller ----------------------------------------------

@pytest.mark.django_db
def test_inbox_retry__poller_applies_the_row_between_read_and_write__applied_once_and_stays_done(
        ledger, in_the_window):
    row = inbox_row(InboxStatus.WAITING, message_id="m-1")
    in_the_window(Processor().retry_due)
    assert "re-queued 0 inbox message(s)" in run("inbox_replay", "--id", "m-1")
    assert status_of(row) == InboxStatus.DONE
    assert Processor().retry_due() == 0
    assert applied() == [("m-1", None)]


@pytest.mark.django_db
def test_inbox_discard__poller_applies_the_row_between_read_and_write__stays_done(ledger, in_the_window):
    row = inbox_row(InboxStatus.WAITING)
    in_the_window(Processor().retry_due)
    assert inbox_operations.discard(InboxMessage.objects.filter(pk=row.pk), "not needed") == 0
    assert status_of(row) == InboxStatus.DONE and len(applied()) == 1


# -- outbox: retry and discard against the relay ----------------------------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["retry", "discard"])
def test_outbox_retry_or_discard__relay_sends_between_read_and_write__stays_sent_and_published_once(
        bound_queue, in_the_window, action):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 1})
    in_the_window(Relay().drain)
    rows = OutboxMessage.objects.filter(pk=message.pk)
    changed = outbox_operations.retry(rows) if action == "retry" else outbox_operations.discard(rows, "not needed")
    assert changed == 0
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert Relay().drain().sent == 0
    received = queue.take(1)
    assert queue.settle(0.3) == received
    assert [r.message_id for r in received] == [str(message.id)]


# -- a head removed from an ordered key releases the next message ------------------------------------

@pytest.mark.django_db
def test_inbox_purge_include_dead__dead_head_of_ordered_key__next_released_and_applied(ledger):
    inbox_row(InboxStatus.DEAD, key="acct-1", sequence=1, days=10)
    second = inbox_row(InboxStatus.BLOCKED, key="acct-1", sequence=2, days=10, message_id="m-2")
    third = inbox_row(InboxStatus.BLOCKED, key="acct-1", sequence=3, days=10, message_id="m-3")
    assert "deleted 1 inbox message(s)" in run("inbox_purge", "--include-dead", "--older-than", "1")
    assert Processor().retry_due() == 2
    assert applied() == [("m-2", 2), ("m-3", 3)]
    assert status_of(second) == status_of(third) == InboxStatus.DONE


@pytest.mark.django_db
def test_inbox_discard__dead_head_of_ordered_key__next_released_and_applied(ledger):
    head = inbox_row(InboxStatus.DEAD, key="acct-1", sequence=1)
    inbox_row(InboxStatus.BLOCKED, key="acct-1", sequence=2, message_id="m-2")
    assert inbox_operations.discard(InboxMessage.objects.filter(pk=head.pk), "bad data") == 1
    assert Processor().retry_due() == 1
    assert applied() == [("m-2", 2)]


class LateArrival:
    """A delivery of ``message`` in a thread whose transaction stays open until the operator's action has
    finished or waits on a lock the delivery holds (a consumer committing just after the operator read)."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self.operator_pid = connection.cursor().connection.info.backend_pid
        self.operator_done = threading.Event()
        self.decided = threading.Event()
        self.outcomes: list[Outcome] = []
        self.thread = threading.Thread(target=self._deliver)

    def start(self) -> None:
        """Start the delivery; return once it was decided (blocked behind the head), not yet committed."""
        self.thread.start()
        self.decided.wait()
        assert self.outcomes == [Outcome.BLOCKED]

    def finish(self) -> None:
        self.operator_done.set()
        self.thread.join()

    def _deliver(self) -> None:
        try:
            with transaction.atomic():
                self.outcomes.append(Processor().deliver(self.message, registry.get(HANDLER)))
                self.decided.set()
                wait_until(lambda: self.operator_done.is_set() or self._operator_waits_on_us(), timeout=20,
                           what="the operator's action to finish or to wait on the key")
        finally:
            self.decided.set()
            connection.close()

    def _operator_waits_on_us(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [self.operator_pid])
            return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_inbox_discard__racing_a_new_arrival_of_the_same_key__the_arrival_is_not_left_blocked(
        ledger, in_the_window):
    head = inbox_row(InboxStatus.DEAD, key="acct-1", sequence=1)
    arrival = LateArrival(Message(id="m-2", topic="ledger.posted", payload={"n": 2}, key="acct-1", sequence=2))
    in_the_window(arrival.start)
    try:
        assert inbox_operations.discard(InboxMessage.objects.filter(pk=head.pk), "bad data") == 1
    finally:
        arrival.finish()
    Processor().retry_due()
    assert InboxMessage.objects.get(message_id="m-2").status == InboxStatus.DONE
    assert applied() == [("m-2", 2)]


# -- blocked rows: self-healing and operator retry --------------------------------------------------

@pytest.mark.django_db
def test_retry_poller__blocked_row_with_nothing_ahead__released_applied_and_shown_in_status(ledger):
    inbox_row(InboxStatus.DONE, key="acct-1", sequence=1)
    stranded = inbox_row(InboxStatus.BLOCKED, key="acct-1", sequence=2, message_id="m-2")
    inbox_row(InboxStatus.WAITING, key="acct-2", sequence=1, available_at=timezone.now() + timedelta(hours=1))
    inbox_row(InboxStatus.BLOCKED, key="acct-2", sequence=2)  # rightly blocked: its head waits for a retry
    assert "blocked, releasable: 1" in run("messaging_status")
    assert Processor().retry_due() == 1
    assert status_of(stranded) == InboxStatus.DONE and applied() == [("m-2", 2)]
    assert "blocked, releasable: 0" in run("messaging_status")


@pytest.mark.django_db
def test_inbox_retry__blocked_rows__released_when_nothing_ahead_else_left_blocked_and_the_operator_told(ledger):
    inbox_row(InboxStatus.DEAD, key="acct-1", sequence=1)
    behind_dead = inbox_row(InboxStatus.BLOCKED, key="acct-1", sequence=2)
    inbox_row(InboxStatus.DONE, key="acct-2", sequence=1)
    free = inbox_row(InboxStatus.BLOCKED, key="acct-2", sequence=2, message_id="m-free")
    operator = client_for(staff("inbox.view_inboxmessage", "inbox.retry_inboxmessage"))
    confirm_action(operator, INBOX_LIST, "retry", [behind_dead.pk, free.pk])
    page = operator.get(INBOX_LIST).content.decode()
    assert "1 inbox message retried" in page
    assert "1 left blocked: an earlier message of its key is not finished" in page
    assert status_of(behind_dead) == InboxStatus.BLOCKED and status_of(free) == InboxStatus.WAITING
    assert Processor().retry_due() == 1 and applied() == [("m-free", 2)]
