"""Retention: delete old finished outbox messages in bounded batches (never one huge DELETE).

A sent message is only history once the broker has it; pending ones are never purged, dead ones only
when asked (they are the operator's to-do list).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet
from django.utils import timezone

from outbox.bulk import Progress, ProgressCallback
from outbox.conf import outbox_settings
from outbox.models import OutboxMessage
from outbox.operations import DEFAULT_BATCH


def cutoff_for(days: float | None, default_days: float, now: datetime | None = None) -> datetime:
    """The moment ``days`` (``default_days`` when None) before ``now``; raises ValueError below 0."""
    days = default_days if days is None else days
    if days < 0:
        raise ValueError(f"the age must be 0 days or more, not {days}")
    return (now or timezone.now()) - timedelta(days=days)


def purge(older_than_days: float | None = None, *, include_dead: bool = False, topics: Sequence[str] = (),
          batch_size: int = DEFAULT_BATCH, dry_run: bool = False, on_progress: ProgressCallback | None = None,
          using: str = DEFAULT_DB_ALIAS) -> int:
    """Delete sent, expired and discarded messages (and dead ones with ``include_dead``) created more
    than ``older_than_days`` ago (default ``OUTBOX_RETENTION_DAYS``), optionally of ``topics`` only.

    Returns how many were deleted (with ``dry_run``: would be, deleting nothing); 0 when none matched.
    """
    cutoff = cutoff_for(older_than_days, outbox_settings.RETENTION_DAYS)
    queryset = OutboxMessage.objects.using(using).purgeable(include_dead).older_than(cutoff)
    if topics:
        queryset = queryset.filter(topic__in=topics)
    return delete_in_batches(queryset, batch_size, dry_run=dry_run, on_progress=on_progress)


def delete_in_batches(queryset: QuerySet[Any], batch_size: int = DEFAULT_BATCH, *, dry_run: bool = False,
                      on_progress: ProgressCallback | None = None,
                      delete: Callable[[QuerySet[Any]], int] | None = None) -> int:
    """Delete the rows of ``queryset``, at most ``batch_size`` per DELETE; returns how many were deleted
    (with ``dry_run``: how many match). 0 when nothing matches. ``delete`` deletes one batch and returns
    how many rows went (default: a plain DELETE); the inbox's also releases ordered keys whose head went.

    Each DELETE repeats the queryset's conditions, not just the primary keys: a row that changed
    between choosing and deleting (a sent message replayed meanwhile) is left alone.
    """
    total = queryset.count()
    if dry_run or not total:
        return total
    done = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return done
        done += (delete or _delete)(queryset.filter(pk__in=ids))
        if on_progress is not None:
            on_progress(Progress(done, max(total, done)))
        if len(ids) < batch_size:
            return done


def _delete(batch: QuerySet[Any]) -> int:
    deleted, _ = batch.delete()
    return int(deleted)
