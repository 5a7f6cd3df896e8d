"""Retention: delete old finished inbox rows in bounded batches. The rows are the deduplication window:
a duplicate arriving after its row was purged would run again, so keep them longer than redeliveries last.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import DEFAULT_DB_ALIAS

from inbox import transitions
from inbox.conf import inbox_settings
from inbox.models import InboxMessage
from outbox.bulk import ProgressCallback
from outbox.operations import DEFAULT_BATCH
from outbox.retention import cutoff_for, delete_in_batches


def purge(older_than_days: float | None = None, *, include_dead: bool = False, topics: Sequence[str] = (),
          handlers: Sequence[str] = (), batch_size: int = DEFAULT_BATCH, dry_run: bool = False,
          on_progress: ProgressCallback | None = None, using: str = DEFAULT_DB_ALIAS) -> int:
    """Delete done, expired, skipped and discarded rows (and dead ones with ``include_dead``) received
    more than ``older_than_days`` ago (default ``INBOX_RETENTION_DAYS``), optionally of ``topics`` or
    ``handlers`` only. Waiting and blocked rows are never deleted; a key whose dead head is deleted releases
    its next message.

    Returns how many were deleted (with ``dry_run``: would be, deleting nothing); 0 when none matched.
    """
    cutoff = cutoff_for(older_than_days, inbox_settings.RETENTION_DAYS)
    queryset = InboxMessage.objects.using(using).purgeable(include_dead).older_than(cutoff)
    if topics:
        queryset = queryset.filter(topic__in=topics)
    if handlers:
        queryset = queryset.filter(handler__in=handlers)
    return delete_in_batches(queryset, batch_size, dry_run=dry_run, on_progress=on_progress,
                             delete=transitions.delete_and_release)
