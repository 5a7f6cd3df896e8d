"""The inbox's section of ``messaging_status`` (see ``outbox/status.py``): counts by status, the oldest waiting
message, recent dead, stuck and releasable blocked messages, and the largest groups of dead messages.

Registered from ``InboxConfig.ready()`` with :func:`outbox.status.register_status_section`, so the outbox,
the base, never imports the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Max, Min

from inbox.conf import inbox_settings
from inbox.models import InboxMessage
from outbox.status import MessagingStatus, StatusSection, table_status
from outbox.status_text import age_text, counts_text, section_lines, when_text

TOP_GROUPS = 10


@dataclass(frozen=True)
class InboxStatus:
    """``oldest_waiting_age`` is in seconds over waiting and blocked rows (None when there are none).
    ``releasable`` counts blocked rows with nothing ahead of them in their key: the retry poller releases
    them on its next round (self-healing); a number that stays above 0 means no poller runs."""

    counts: dict[str, int]
    oldest_waiting_age: float | None
    dead_last_hour: int
    stuck: int
    releasable: int = 0


@dataclass(frozen=True)
class DeadGroup:
    """Dead inbox messages that failed the same way (same exception type and top frames): in
    ``messaging_status`` one group per error group and handler; the admin's
    :class:`~inbox.admin.groups.ErrorGroupSample` spans handlers."""

    error_group: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    error_type: str
    handler: str


def inbox_status(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> InboxStatus:
    """Counts, oldest waiting age (waiting and blocked rows), recent dead, stuck and releasable blocked messages
    of the inbox."""
    messages = InboxMessage.objects.using(using)
    return InboxStatus(*table_status(messages, messages.waiting(), arrived="received_at", died="last_failed_at",
                                     stuck_after=inbox_settings.STUCK_AFTER, now=now),
                       releasable=messages.releasable(inbox_settings.DEAD_BLOCKS_KEY).count())


def dead_groups(using: str = DEFAULT_DB_ALIAS, limit: int = TOP_GROUPS) -> list[DeadGroup]:
    """The ``limit`` largest groups of dead inbox messages by handler, largest first ([] when nothing is dead)."""
    rows = (InboxMessage.objects.using(using).dead().values("error_group", "error_type", "handler")
            .annotate(count=Count("id"), first_seen=Min("first_failed_at"), last_seen=Max("last_failed_at"))
            .order_by("-count", "-last_seen")[:limit])
    return [DeadGroup(**row) for row in rows]


def _collect(using: str, now: datetime) -> dict[str, object]:
    return {"inbox": inbox_status(using, now), "dead_groups": dead_groups(using)}


def _stuck(report: MessagingStatus) -> int:
    return report.inbox.stuck if report.inbox is not None else 0


def _lines(report: MessagingStatus) -> list[str]:
    status = report.inbox
    if status is None:
        return []
    return [f"inbox: {counts_text(status.counts)}",
            f"  oldest waiting: {age_text(status.oldest_waiting_age)}; dead in the last hour: "
            f"{status.dead_last_hour}; stuck: {status.stuck}; blocked, releasable: "
            f"{status.releasable} (released by the retry poller's self-healing)",
            *section_lines("dead groups", [_group(group) for group in report.dead_groups])]


def _group(group: DeadGroup) -> str:
    return (f"  {group.error_group or '-'}  x{group.count}  {group.handler or '(no handler)'}  {group.error_type}  "
            f"first {when_text(group.first_seen)}  last {when_text(group.last_seen)}")


SECTION = StatusSection(app="inbox", collect=_collect, stuck=_stuck, lines=_lines)
