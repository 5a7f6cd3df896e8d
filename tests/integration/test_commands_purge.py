"""Retention: ``outbox_purge``, ``inbox_purge`` and their beat tasks delete old finished rows in bounded batches."""

from __future__ import annotations

import io
import math
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from demo_project import celery_app
from inbox import retention as inbox_retention
from inbox import tasks as inbox_tasks
from inbox.models import InboxMessage
from inbox.models import Status as InboxStatus
from outbox import retention as outbox_retention
from outbox import tasks as outbox_tasks
from outbox.bulk import Progress
from outbox.models import OutboxMessage, Status

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

DAY = 86400.0


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def outbox_rows(status: str, count: int = 1, *, days: float = 10, topic: str = "orders.placed") -> list[Any]:
    created = timezone.now() - timedelta(days=days)
    rows = [OutboxMessage(topic=topic, payload={}, status=status, created_at=created, available_at=created)
            for _ in range(count)]
    return [row.pk for row in OutboxMessage.objects.bulk_create(rows)]


def inbox_rows(status: str, count: int = 1, *, days: float = 10, handler: str = "billing") -> list[Any]:
    received = timezone.now() - timedelta(days=days)
    rows = [InboxMessage(handler=handler, message_id=uuid.uuid4().hex, status=status, received_at=received)
            for _ in range(count)]
    return [row.pk for row in InboxMessage.objects.bulk_create(rows)]


def remaining(model: Any) -> dict[str, int]:
    return dict(model.objects.order_by().values_list("status").annotate(n=Count("pk")))


def deletes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]


# -- outbox -----------------------------------------------------------------------------------------

def test_outbox_purge__old_finished_deleted__recent_pending_and_dead_kept():
    for status in (Status.SENT, Status.EXPIRED, Status.DISCARDED, Status.PENDING, Status.DEAD):
        outbox_rows(status)
    outbox_rows(Status.SENT, days=1)
    assert "deleted 3 outbox message(s)" in run("outbox_purge")  # default OUTBOX_RETENTION_DAYS = 7
    assert remaining(OutboxMessage) == {"pending": 1, "dead": 1, "sent": 1}


def test_outbox_purge__include_dead_older_than_and_topic():
    outbox_rows(Status.DEAD), outbox_rows(Status.PENDING)
    outbox_rows(Status.SENT, days=1), outbox_rows(Status.SENT, days=1, topic="payments.done")
    assert "deleted 1" in run("outbox_purge", "--include-dead")
    assert "deleted 1" in run("outbox_purge", "--older-than", "0.5", "--topic", "payments.done")
    assert "deleted 1" in run("outbox_purge", "--older-than", "0")
    assert remaining(OutboxMessage) == {"pending": 1}


def test_outbox_purge__dry_run__counts_and_deletes_nothing():
    outbox_rows(Status.SENT, 3)
    with CaptureQueriesContext(connection) as queries:
        assert "would delete 3 outbox message(s); nothing deleted" in run("outbox_purge", "--dry-run")
    assert deletes(queries) == []
    assert OutboxMessage.objects.count() == 3


def test_outbox_purge__batch_size__no_delete_touches_more_rows():
    outbox_rows(Status.SENT, 25)
    with CaptureQueriesContext(connection) as queries:
        output = run("outbox_purge", "--batch-size", "10")
    statements = deletes(queries)
    assert len(statements) == math.ceil(25 / 10)
    assert all(len(re.findall(r"'[0-9a-f-]{32,36}'", sql)) <= 10 for sql in statements)
    assert "25/25" in output and "deleted 25" in output
    assert OutboxMessage.objects.count() == 0


def test_outbox_retention__progress_per_batch__at_most_batch_size_each():
    outbox_rows(Status.SENT, 7)
    seen: list[Progress] = []
    assert outbox_retention.purge(batch_size=3, on_progress=seen.append) == 7
    assert [p.done for p in seen] == [3, 6, 7]


def test_outbox_retention__each_delete__repeats_the_conditions_not_just_the_ids():
    # A sent message replayed between choosing the batch and deleting it is then pending: it must survive.
    outbox_rows(Status.SENT, 2)
    with CaptureQueriesContext(connection) as queries:
        outbox_retention.purge()
    [statement] = deletes(queries)
    assert '"status" IN' in statement and '"created_at" <' in statement


# -- inbox ------------------------------------------------------------------------------------------

def test_inbox_purge__old_finished_deleted__waiting_blocked_and_dead_kept():
    finished = (InboxStatus.DONE, InboxStatus.EXPIRED, InboxStatus.SKIPPED, InboxStatus.DISCARDED)
    for status in (*finished, InboxStatus.WAITING, InboxStatus.BLOCKED, InboxStatus.DEAD):
        inbox_rows(status)
    inbox_rows(InboxStatus.DONE, days=1)
    assert "deleted 4 inbox message(s)" in run("inbox_purge")
    assert remaining(InboxMessage) == {"waiting": 1, "blocked": 1, "dead": 1, "done": 1}


def test_inbox_purge__include_dead_and_zero_days__never_waiting_or_blocked():
    inbox_rows(InboxStatus.WAITING), inbox_rows(InboxStatus.BLOCKED), inbox_rows(InboxStatus.DEAD)
    inbox_rows(InboxStatus.DONE, days=0.001)
    assert "deleted 2" in run("inbox_purge", "--include-dead", "--older-than", "0")
    assert remaining(InboxMessage) == {"waiting": 1, "blocked": 1}


def test_inbox_purge__handler_and_dry_run():
    inbox_rows(InboxStatus.DONE, 2, handler="billing"), inbox_rows(InboxStatus.DONE, 3, handler="shipping")
    assert "would delete 3 inbox message(s)" in run("inbox_purge", "--handler", "shipping", "--dry-run")
    assert InboxMessage.objects.count() == 5
    assert "deleted 3" in run("inbox_purge", "--handler", "shipping")
    assert set(InboxMessage.objects.values_list("handler", flat=True)) == {"billing"}


def test_inbox_purge__batch_size__no_delete_touches_more_rows():
    inbox_rows(InboxStatus.DONE, 12)
    with CaptureQueriesContext(connection) as queries:
        run("inbox_purge", "--batch-size", "5", "--verbosity", "0")
    statements = deletes(queries)
    assert len(statements) == 3
    assert all(len(re.search(r"IN \(([^)]*)\)", sql).group(1).split(",")) <= 5 for sql in statements)
    assert InboxMessage.objects.count() == 0


# -- beat tasks -------------------------------------------------------------------------------------

@override_settings(OUTBOX_RETENTION_DAYS=2, INBOX_RETENTION_DAYS=2)
def test_purge_tasks__run_by_celery__use_the_retention_settings():
    outbox_rows(Status.SENT, days=3), outbox_rows(Status.SENT, days=1)
    inbox_rows(InboxStatus.DONE, days=3), inbox_rows(InboxStatus.DONE, days=1)
    assert outbox_tasks.purge.apply().get() == 1
    assert inbox_tasks.purge.apply().get() == 1
    assert OutboxMessage.objects.count() == 1 and InboxMessage.objects.count() == 1
    assert inbox_retention.purge() == 0


def test_purge_tasks__registered_and_scheduled_daily():
    celery_app.loader.import_default_modules()
    assert {"outbox.purge", "inbox.purge"} <= set(celery_app.tasks)
    scheduled = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for task in ("outbox.purge", "inbox.purge"):
        schedule = scheduled[task]
        assert (len(schedule.hour), len(schedule.minute), len(schedule.day_of_week)) == (1, 1, 7)
