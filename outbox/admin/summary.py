"""The summary above the admin's message lists: counts by status, the oldest unfinished message, dead
messages of the last hour and stuck ones.

Unlike ``outbox/status.py`` (whose GROUP BY reads the whole table, fine for a command run now and then),
this runs on every changelist page, so every count is a :func:`~outbox.admin.counts.cheap_counts`:
bounded index scans in one statement, and the planner's estimate for a status with more rows than
that. The definitions ("dead in the last hour", "stuck") are the same as ``messaging_status``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Min, QuerySet
from django.utils import timezone

from outbox.admin.counts import Count, cheap_counts
from outbox.admin.display import short_age
from outbox.conf import outbox_settings
from outbox.models import OutboxMessage, Status

RECENT = timedelta(hours=1)


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: Count


@dataclass(frozen=True)
class Summary:
    """What the changelist shows above the list; ``oldest_age`` in seconds, None when nothing is unfinished."""

    counts: list[StatusCount]
    oldest_label: str
    oldest_age: float | None
    dead_last_hour: Count
    stuck: Count

    @property
    def oldest(self) -> str:
        return short_age(self.oldest_age)


def summarize(queryset: QuerySet[Any], choices: list[tuple[str, str]], *, dead_recent: QuerySet[Any],
              stuck: QuerySet[Any], oldest: datetime | None, oldest_label: str, now: datetime) -> Summary:
    """Count each status of ``choices`` in ``queryset``, ``dead_recent`` and ``stuck``, cheaply."""
    named = {f"status:{value}": queryset.filter(status=value) for value, _ in choices}
    counts = cheap_counts({**named, "dead_recent": dead_recent, "stuck": stuck})
    return Summary(counts=[StatusCount(value, label, counts[f"status:{value}"]) for value, label in choices],
                   oldest_label=oldest_label,
                   oldest_age=None if oldest is None else (now - oldest).total_seconds(),
                   dead_last_hour=counts["dead_recent"], stuck=counts["stuck"])


def table_summary(messages: Any, unfinished: QuerySet[Any], choices: list[tuple[str, str]], *, arrived: str,
                  died: str, stuck_after: float, oldest_label: str, now: datetime | None = None) -> Summary:
    """The summary of one table's manager ``messages``: the oldest of ``unfinished`` by its ``arrived`` time,
    dead messages whose ``died`` time is within the last hour, stuck ones (past ``stuck_after`` seconds)."""
    now = now or timezone.now()
    oldest = unfinished.aggregate(oldest=Min(arrived))["oldest"]
    return summarize(messages.all(), choices, dead_recent=messages.dead().filter(**{f"{died}__gte": now - RECENT}),
                     stuck=messages.stuck(now, timedelta(seconds=stuck_after)), oldest=oldest,
                     oldest_label=oldest_label, now=now)


def outbox_summary(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> Summary:
    """The outbox's summary. A dead outbox message keeps no time of death: "dead in the last hour" means
    its last attempt was due in the last hour (as in ``messaging_status``)."""
    messages = OutboxMessage.objects.using(using)
    return table_summary(messages, messages.pending(), list(Status.choices), arrived="created_at",
                         died="available_at", stuck_after=outbox_settings.STUCK_AFTER, oldest_label="oldest pending",
                         now=now)
