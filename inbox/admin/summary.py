"""The summary above the inbox's admin list (same cheap counts as the outbox's, ``outbox/admin/summary.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Min
from django.utils import timezone

from inbox.conf import inbox_settings
from inbox.models import InboxMessage, Status
from outbox.admin.summary import RECENT, Summary, summarize


def inbox_summary(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> Summary:
    """Counts by status, the oldest waiting or blocked message, dead in the last hour (by last failure,
    as in ``messaging_status``) and stuck messages (waiting longer than INBOX_STUCK_AFTER)."""
    now = now or timezone.now()
    messages = InboxMessage.objects.using(using)
    oldest = messages.waiting().aggregate(oldest=Min("received_at"))["oldest"]
    return summarize(messages.all(), list(Status.choices),
                     dead_recent=messages.dead().filter(last_failed_at__gte=now - RECENT),
                     stuck=messages.stuck(now, timedelta(seconds=inbox_settings.STUCK_AFTER)),
                     oldest=oldest, oldest_label="oldest waiting", now=now)
