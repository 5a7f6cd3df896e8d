"""``outbox_replay`` and ``inbox_replay`` against PostgreSQL (and RabbitMQ where a replay is relayed)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

import outbox
from inbox.message import Message
from inbox.models import InboxMessage
from inbox.models import Status as InboxStatus
from inbox.processing import Processor
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def outbox_row() -> Callable[..., OutboxMessage]:
    """Factory: an outbox message in a given state, ``age`` seconds old."""
    def make(status: str = Status.DEAD, *, topic: str = "orders.placed", key: str | None = None, age: float = 0,
             attempts: int = 10) -> OutboxMessage:
        created = timezone.now() - timedelta(seconds=age)
        return OutboxMessage.objects.create(topic=topic, key=key, payload={"n": 1}, status=status, attempts=attempts,
                                            created_at=created, available_at=created, last_error="boom")
    return make


@pytest.fixture
def inbox_row() -> Callable[..., InboxMessage]:
    """Factory: an inbox message of ``handler`` in a given state."""
    def make(status: str = InboxStatus.DEAD, *, handler: str = "billing", group: str = "g1", **fields: Any
             ) -> InboxMessage:
        return InboxMessage.objects.create(handler=handler, message_id=fields.pop("message_id", uuid.uuid4().hex),
                                           topic=fields.pop("topic", "orders.placed"), payload={"n": 1},
                                           status=status, attempts=4, error_group=group,
                                           error_type="builtins.ValueError", **fields)
    return make


def snapshot(model: Any) -> list[tuple[Any, ...]]:
    return list(model.objects.order_by("pk").values_list("pk", "status", "attempts", "available_at"))


# -- outbox_replay ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_outbox_replay__status_dead__dead_become_due_with_attempts_reset(outbox_row):
    dead = [outbox_row(), outbox_row()]
    sent = outbox_row(Status.SENT)
    output = run("outbox_replay", "--status", "dead")
    assert "re-queued 2 outbox message(s)" in output
    for message in dead:
        message.refresh_from_db()
        assert message.status == Status.PENDING and message.attempts == 0
        assert message.available_at > message.created_at
    sent.refresh_from_db()
    assert sent.status == Status.SENT


@pytest.mark.django_db
def test_outbox_replay__dry_run__counts_and_changes_nothing(outbox_row):
    outbox_row(), outbox_row(Status.PENDING, attempts=3), outbox_row(Status.SENT)
    before = snapshot(OutboxMessage)
    assert "would re-queue 2 outbox message(s); nothing changed" in run("outbox_replay", "--all", "--dry-run")
    assert "would republish 1 outbox message(s)" in run("outbox_replay", "--all", "--sent", "--dry-run")
    assert snapshot(OutboxMessage) == before


@pytest.mark.django_db
def test_outbox_replay__filters__only_matching_messages(outbox_row):
    by_id, other = outbox_row(), outbox_row()
    by_topic = outbox_row(topic="payments.failed")
    by_key = outbox_row(key="order-9")
    old = outbox_row(age=3 * 86400)
    assert "re-queued 1" in run("outbox_replay", "--id", str(by_id.id))
    assert "re-queued 1" in run("outbox_replay", "--topic", "payments.failed")
    assert "re-queued 1" in run("outbox_replay", "--key", "order-9")
    assert "re-queued 1" in run("outbox_replay", "--until", "2d", "--status", "dead")
    assert "re-queued 1" in run("outbox_replay", "--since", "1h", "--topic", "orders.placed", "--id", str(other.id))
    for message in (by_id, by_topic, by_key, old, other):
        message.refresh_from_db()
        assert message.status == Status.PENDING


@pytest.mark.django_db
def test_outbox_replay__repeated_id_and_iso_range__each_id_matched(outbox_row):
    first, second, third = outbox_row(), outbox_row(), outbox_row()
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert "re-queued 2" in run("outbox_replay", "--id", str(first.id), "--id", str(second.id), "--since", since)
    third.refresh_from_db()
    assert third.status == Status.DEAD


@pytest.mark.django_db
def test_outbox_replay__rate_and_small_batches__all_done_with_a_progress_bar(outbox_row):
    for _ in range(5):
        outbox_row()
    output = run("outbox_replay", "--all", "--batch-size", "2", "--rate", "1000")
    assert "[" in output and "5/5" in output and "re-queued 5" in output
    assert OutboxMessage.objects.pending().count() == 5


@pytest.mark.django_db
@pytest.mark.parametrize("rate", ["inf", "Infinity", "INF"])
def test_outbox_replay__rate_inf__no_limit_and_every_message_requeued(outbox_row, rate):
    for _ in range(3):
        outbox_row()
    output = run("outbox_replay", "--all", "--batch-size", "2", "--rate", rate)
    assert "re-queued 3" in output
    assert OutboxMessage.objects.pending().count() == 3


@pytest.mark.django_db
def test_outbox_replay__status_the_action_cannot_take__command_error(outbox_row):
    outbox_row(Status.SENT)
    with pytest.raises(CommandError, match="cannot re-queue messages with status sent"):
        run("outbox_replay", "--status", "sent")
    with pytest.raises(CommandError, match="cannot republish messages with status dead"):
        run("outbox_replay", "--sent", "--status", "dead")
    with pytest.raises(CommandError, match="UUIDs"):
        run("outbox_replay", "--id", "42")


@pytest.mark.django_db
def test_outbox_replay__status_sent_without_the_sent_flag__error_names_the_sent_option(outbox_row):
    outbox_row(Status.SENT)
    with pytest.raises(CommandError, match=r"only dead, pending.*--sent to republish sent messages"):
        run("outbox_replay", "--status", "sent")
    with pytest.raises(CommandError, match=r"without --sent to re-queue dead or pending ones"):
        run("outbox_replay", "--sent", "--status", "dead")


@pytest.mark.django_db(transaction=True)
def test_outbox_replay__sent__published_again_with_the_same_id(bound_queue):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 3})
    untouched = outbox.publish("orders.placed", {"order": 4})
    Relay().drain()
    assert len(queue.take(2)) == 2
    assert "republished 1 outbox message(s)" in run("outbox_replay", "--sent", "--id", str(message.id))
    assert Relay().drain().sent == 1
    received = queue.take(3)
    assert queue.settle(0.3) == received
    assert [r.message_id for r in received].count(str(message.id)) == 2
    assert [r.message_id for r in received].count(str(untouched.id)) == 1
    message.refresh_from_db()
    assert message.status == Status.SENT


@pytest.mark.django_db(transaction=True)
def test_outbox_replay__dead_message__relayed_after_replay(bound_queue):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 5})
    OutboxMessage.objects.filter(pk=message.pk).update(status=Status.DEAD, attempts=10)
    assert Relay().drain().sent == 0
    run("outbox_replay", "--status", "dead", "--topic", "orders.placed")
    assert Relay().drain().sent == 1
    assert [r.message_id for r in queue.take(1)] == [str(message.id)]


# -- inbox_replay -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_inbox_replay__error_group__only_that_group_requeued_with_history(inbox_row):
    wanted = [inbox_row(group="g1"), inbox_row(group="g1", handler="shipping")]
    other = inbox_row(group="g2")
    done = inbox_row(InboxStatus.DONE, group="g1")
    assert "re-queued 2 inbox message(s)" in run("inbox_replay", "--error-group", "g1")
    for row in wanted:
        row.refresh_from_db()
        assert row.status == InboxStatus.WAITING and row.attempts == 0
        assert row.history[-1]["event"] == "retried" and row.history[-1]["by"] == "inbox_replay command"
    other.refresh_from_db()
    done.refresh_from_db()
    assert other.status == InboxStatus.DEAD and done.status == InboxStatus.DONE


@pytest.mark.django_db
def test_inbox_replay__filters__handler_topic_key_id_and_time(inbox_row):
    by_handler = inbox_row(handler="shipping")
    by_topic = inbox_row(topic="payments.failed")
    by_key = inbox_row(key="k-1")
    by_id = inbox_row(message_id="wire-id-1")
    old = inbox_row(received_at=timezone.now() - timedelta(days=3))
    assert "re-queued 1" in run("inbox_replay", "--handler", "shipping")
    assert "re-queued 1" in run("inbox_replay", "--topic", "payments.failed")
    assert "re-queued 1" in run("inbox_replay", "--key", "k-1")
    assert "re-queued 1" in run("inbox_replay", "--id", "wire-id-1")
    assert "re-queued 1" in run("inbox_replay", "--until", "2d")
    for row in (by_handler, by_topic, by_key, by_id, old):
        row.refresh_from_db()
        assert row.status == InboxStatus.WAITING


@pytest.mark.django_db
def test_inbox_replay__dry_run_and_unretryable_rows__nothing_changed(inbox_row):
    inbox_row(), inbox_row(InboxStatus.WAITING), inbox_row(handler="")  # refused on the wire: never retried
    before = snapshot(InboxMessage)
    assert "would re-queue 2 inbox message(s); nothing changed" in run("inbox_replay", "--all", "--dry-run")
    assert snapshot(InboxMessage) == before
    with pytest.raises(CommandError, match="cannot re-queue messages with status done"):
        run("inbox_replay", "--status", "done")


@pytest.mark.django_db
def test_inbox_replay__rate_and_batches__progress_and_all_requeued(inbox_row):
    for _ in range(5):
        inbox_row()
    output = run("inbox_replay", "--status", "dead", "--batch-size", "2", "--rate", "1000")
    assert "5/5" in output and "re-queued 5" in output


@pytest.mark.django_db
def test_inbox_replay__rate_inf__no_limit_and_every_message_requeued(inbox_row):
    for _ in range(3):
        inbox_row()
    output = run("inbox_replay", "--status", "dead", "--rate", "inf")
    assert "re-queued 3" in output


@pytest.mark.django_db
def test_inbox_replay__dead_message__applied_by_the_next_retry_round(handlers, inbox_row):
    @handlers("orders.*", name="billing")
    def bill(message: Message) -> None:
        Effect.objects.create(handler="billing", message_id=message.id)

    row = inbox_row(message_id="m-1")
    run("inbox_replay", "--id", "m-1")
    assert Processor().retry_due() == 1
    row.refresh_from_db()
    assert row.status == InboxStatus.DONE
    assert list(Effect.objects.values_list("message_id", flat=True)) == ["m-1"]
