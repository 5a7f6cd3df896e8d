"""Operator actions on inbox messages, shared by the admin, the management commands and tests.

Each takes a queryset and returns how many rows changed; work happens in bounded batches.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from inbox import ordering
from inbox.models import InboxMessage, Status
from outbox.operations import in_batches
from outbox.routing import for_writing

DEFAULT_BATCH = 1000
RETRYABLE = [Status.DEAD, Status.WAITING]


def retry(queryset: QuerySet[InboxMessage], batch_size: int = DEFAULT_BATCH, actor: str = "") -> int:
    """Dead or waiting messages become due now with a fresh set of retries; returns how many.

    Messages refused on the wire (no handler) cannot be retried and are left as they are.
    """
    queryset = for_writing(queryset)  # read where written: not from a replica the router reads from
    total = 0
    for ids in in_batches(queryset.filter(status__in=RETRYABLE).exclude(handler=""), batch_size):
        with transaction.atomic(using=queryset.db):
            rows = list(InboxMessage.objects.using(queryset.db).select_for_update().filter(pk__in=ids))
            for row in rows:
                _note(row, "retried", actor)
                row.status, row.available_at, row.attempts, row.first_failed_at = (
                    Status.WAITING, timezone.now(), 0, None)
            InboxMessage.objects.using(queryset.db).bulk_update(
                rows, ["status", "available_at", "attempts", "first_failed_at", "history"])
            total += len(rows)
    return total


def discard(queryset: QuerySet[InboxMessage], reason: str, batch_size: int = DEFAULT_BATCH, actor: str = "") -> int:
    """Dead, waiting or blocked messages are kept but marked discarded with the reason; the next
    message of an ordered key is released. Returns how many."""
    if not reason.strip():
        raise ValueError("a reason is required to discard messages")
    queryset = for_writing(queryset)
    total = 0
    statuses = [*RETRYABLE, Status.BLOCKED]
    for ids in in_batches(queryset.filter(status__in=statuses), batch_size):
        with transaction.atomic(using=queryset.db):
            for row in InboxMessage.objects.using(queryset.db).select_for_update().filter(pk__in=ids):
                _note(row, f"discarded: {reason}", actor)
                row.status, row.processed_at, row.available_at = Status.DISCARDED, timezone.now(), None
                row.save(using=queryset.db, update_fields=["status", "processed_at", "available_at", "history"])
                ordering.release_next(row, timezone.now(), queryset.db)
                total += 1
    return total


def _note(row: InboxMessage, event: str, actor: str) -> None:
    entry = {"at": timezone.now().isoformat(), "event": event, "attempt": row.attempts}
    if actor:
        entry["by"] = actor
    row.history = [*(row.history or []), entry]
