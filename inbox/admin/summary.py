"""The summary above the inbox's admin list (same cheap counts as the outbox's, ``outbox/admin/summary.py``)."""

from __future__ import annotations

from datetime import datetime

from django.db import DEFAULT_DB_ALIAS

from inbox.conf import inbox_settings
from inbox.models import InboxMessage, Status
from outbox.admin.summary import Summary, table_summary


def inbox_summary(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> Summary:
    """Counts by status, the oldest waiting or blocked message, dead in the last hour (by last failure,
    as in ``messaging_status``) and stuck messages (waiting longer than INBOX_STUCK_AFTER)."""
    messages = InboxMessage.objects.using(using)
    return table_summary(messages, messages.waiting(), list(Status.choices), arrived="received_at",
                         died="last_failed_at", stuck_after=inbox_settings.STUCK_AFTER, oldest_label="oldest waiting",
                         now=now)
