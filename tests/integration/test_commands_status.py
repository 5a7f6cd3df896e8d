"""``messaging_status``: counts, ages, dead groups, breakers and stuck messages, as text, as JSON, and as a
health probe's exit status."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from inbox import status as inbox_status
from inbox.models import InboxMessage
from inbox.models import Status as InboxStatus
from outbox import status
from outbox.models import BreakerState, OutboxMessage, Status

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("messaging_status", *args, stdout=out)
    return out.getvalue()


def outbox_message(status: str, *, minutes: float = 0, **fields: object) -> OutboxMessage:
    created = timezone.now() - timedelta(minutes=minutes)
    fields.setdefault("available_at", created)
    return OutboxMessage.objects.create(topic="orders.placed", payload={}, status=status, created_at=created, **fields)


def inbox_message(status: str, *, minutes: float = 0, group: str = "", handler: str = "billing",
                  **fields: object) -> InboxMessage:
    at = timezone.now() - timedelta(minutes=minutes)
    return InboxMessage.objects.create(handler=handler, message_id=uuid.uuid4().hex, status=status, received_at=at,
                                       error_group=group, **fields)


def dead_inbox(group: str, handler: str, minutes: float) -> InboxMessage:
    failed = timezone.now() - timedelta(minutes=minutes)
    return inbox_message(InboxStatus.DEAD, minutes=minutes, group=group, handler=handler,
                         error_type="builtins.KeyError", first_failed_at=failed, last_failed_at=failed)


@pytest.fixture
def busy() -> None:
    """Two stuck outbox messages (old, and leased past its lease), one stuck inbox message, dead groups, breakers."""
    outbox_message(Status.PENDING, minutes=20)
    outbox_message(Status.PENDING, lease_until=timezone.now() - timedelta(seconds=5), lease_owner="gone")
    outbox_message(Status.PENDING)
    outbox_message(Status.SENT, minutes=30)
    outbox_message(Status.DEAD, minutes=10)
    outbox_message(Status.DEAD, minutes=600)
    inbox_message(InboxStatus.DONE)
    inbox_message(InboxStatus.WAITING, minutes=120)
    inbox_message(InboxStatus.BLOCKED, minutes=1)
    for minutes in (5, 30, 200):
        dead_inbox("g-key", "billing", minutes)
    dead_inbox("g-value", "shipping", 2)
    BreakerState.objects.create(name="outbox-relay", state="open", failures=3, reason="connection refused")
    BreakerState.objects.create(name="billing", state="closed")


@pytest.mark.django_db
def test_status__empty_tables__zero_everywhere_and_no_stuck():
    report = status.collect()
    assert report.outbox.counts == {} and report.outbox.oldest_pending_age is None
    assert report.inbox is not None and report.inbox.counts == {} and report.inbox.oldest_waiting_age is None
    assert report.stuck == 0 and report.dead_groups == [] and report.breakers == []
    text = run("--fail-if-stuck")
    assert "outbox: empty" in text and "inbox: empty" in text and "breakers: none" in text


@pytest.mark.django_db
def test_status__busy__counts_ages_dead_groups_breakers_and_stuck(busy):
    report = status.collect()
    assert report.outbox.counts == {"pending": 3, "sent": 1, "dead": 2}
    assert 20 * 60 <= report.outbox.oldest_pending_age < 21 * 60
    assert report.outbox.dead_last_hour == 1 and report.outbox.stuck == 2
    assert report.inbox.counts == {"done": 1, "waiting": 1, "blocked": 1, "dead": 4}
    assert 120 * 60 <= report.inbox.oldest_waiting_age < 121 * 60
    assert report.inbox.dead_last_hour == 3 and report.inbox.stuck == 1
    top = report.dead_groups[0]
    assert (top.error_group, top.count, top.handler, top.error_type) == ("g-key", 3, "billing", "builtins.KeyError")
    assert top.first_seen < top.last_seen
    assert [g.error_group for g in report.dead_groups] == ["g-key", "g-value"]
    assert [(b.name, b.state) for b in report.breakers] == [("billing", "closed"), ("outbox-relay", "open")]
    assert report.stuck == 3


@pytest.mark.django_db
def test_status__each_table_read_by_its_own_times():
    """Outbox: oldest by created_at, recent dead by the last attempt's due time (available_at). Inbox: oldest
    over waiting and blocked rows by received_at, recent dead by last_failed_at."""
    outbox_message(Status.PENDING, minutes=45, available_at=timezone.now())
    for _ in range(2):  # created long ago, last attempt due just now: recent
        outbox_message(Status.DEAD, minutes=600, available_at=timezone.now() - timedelta(minutes=5))
    outbox_message(Status.DEAD, minutes=1, available_at=timezone.now() - timedelta(hours=3))  # not recent
    inbox_message(InboxStatus.WAITING, minutes=10)
    inbox_message(InboxStatus.BLOCKED, minutes=90)
    failed = timezone.now() - timedelta(minutes=5)
    for _ in range(2):  # received long ago, died just now: recent
        inbox_message(InboxStatus.DEAD, minutes=600, last_failed_at=failed)
    inbox_message(InboxStatus.DEAD, minutes=1, last_failed_at=timezone.now() - timedelta(hours=3))
    outbox, inbox = status.outbox_status(), inbox_status.inbox_status()
    assert 45 * 60 <= outbox.oldest_pending_age < 46 * 60 and outbox.dead_last_hour == 2
    assert 90 * 60 <= inbox.oldest_waiting_age < 91 * 60 and inbox.dead_last_hour == 2
    later = timezone.now() + timedelta(hours=2)  # an explicit ``now``: ages and the last hour move with it
    assert status.outbox_status(now=later).oldest_pending_age >= (2 * 60 + 45) * 60
    assert status.outbox_status(now=later).dead_last_hour == 0
    assert inbox_status.inbox_status(now=later).dead_last_hour == 0
    assert inbox_status.inbox_status(now=later).stuck == 2  # both past INBOX_STUCK_AFTER (an hour) by then


@pytest.mark.django_db
def test_status_command__text__every_section(busy):
    text = run()
    assert "outbox: dead 2, pending 3, sent 1" in text
    assert "oldest pending: 20m" in text and "stuck: 2" in text
    assert "inbox: blocked 1, dead 4, done 1, waiting 1" in text and "oldest waiting: 2h00m" in text
    assert "g-key  x3  billing  builtins.KeyError" in text
    assert "outbox-relay: open (3 failures)" in text and "connection refused" in text


@pytest.mark.django_db
def test_status_command__json__one_document_of_this_shape(busy):
    document = json.loads(run("--json"))
    assert set(document) == {"at", "outbox", "inbox", "dead_groups", "breakers", "unrouted", "stuck_total"}
    assert set(document["outbox"]) == {"counts", "oldest_pending_age", "dead_last_hour", "stuck"}
    assert set(document["inbox"]) == {"counts", "oldest_waiting_age", "dead_last_hour", "stuck", "releasable"}
    assert set(document["dead_groups"][0]) == {"error_group", "count", "first_seen", "last_seen", "error_type",
                                               "handler"}
    assert set(document["breakers"][0]) == {"name", "state", "failures", "reason", "changed_at", "updated_at",
                                            "stale"}
    assert document["stuck_total"] == 3 and document["outbox"]["counts"]["pending"] == 3
    assert timezone.datetime.fromisoformat(document["at"]).tzinfo is not None


@pytest.mark.django_db
def test_status_command__fail_if_stuck__exit_status_2_with_the_counts(busy):
    with pytest.raises(CommandError, match=r"stuck: 3 message\(s\) \(outbox 2, inbox 1\)") as raised:
        run("--fail-if-stuck")
    assert raised.value.returncode == 2


@pytest.mark.django_db
def test_status_command__fail_if_stuck_with_nothing_stuck__succeeds():
    outbox_message(Status.PENDING, minutes=1)
    inbox_message(InboxStatus.WAITING, minutes=1)
    with override_settings(OUTBOX_STUCK_AFTER=300, INBOX_STUCK_AFTER=300):
        assert json.loads(run("--fail-if-stuck", "--json"))["stuck_total"] == 0
        assert "stuck: 0" in run("--fail-if-stuck")


@pytest.mark.django_db
def test_status__inbox_not_installed__outbox_only(busy):
    from django.apps import apps

    with override_settings(INSTALLED_APPS=[c.name for c in apps.get_app_configs() if c.name != "inbox"]):
        report = status.collect()
        document = json.loads(run("--json"))
    assert report.inbox is None and report.dead_groups == [] and report.stuck == 2
    assert document["inbox"] is None


@pytest.mark.django_db(transaction=True)
def test_status_command__process_exit_status__2_when_stuck_0_when_not(child_env):
    command = [sys.executable, "manage.py", "messaging_status", "--fail-if-stuck"]
    healthy = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0, healthy.stderr
    outbox_message(Status.PENDING, minutes=60)
    stuck = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert stuck.returncode == 2
    assert "stuck: 1 message(s)" in stuck.stderr
