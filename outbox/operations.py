"""Operator actions on outbox messages, shared by the admin, the management commands and tests.

Each takes a queryset (what the operator selected or filtered) and returns how many rows changed.
Rows are changed in bounded batches so that acting on a million rows never holds one huge lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from outbox.models import OutboxMessage, Status
from outbox.routing import for_writing
from outbox.wakeup import after_commit

DEFAULT_BATCH = 1000


def in_batches(queryset: QuerySet[Any], batch_size: int = DEFAULT_BATCH) -> Iterator[list[Any]]:
    """Primary keys of ``queryset`` in batches, by key range rather than offset (stable while rows
    change status, and each batch is one cheap index range scan)."""
    last = None
    base = queryset.order_by("pk")
    while True:
        page = base.filter(pk__gt=last) if last is not None else base
        ids = list(page.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _apply(queryset: QuerySet[OutboxMessage], statuses: list[str], change: Callable[[QuerySet[OutboxMessage]], int],
           batch_size: int) -> int:
    """``change`` each batch of ``queryset``'s rows in ``statuses``, on the write alias (where the rows are
    also read: an admin changelist's queryset reads from a replica when the router says so)."""
    queryset = for_writing(queryset)
    alias = queryset.db
    total = 0
    for ids in in_batches(queryset.filter(status__in=statuses), batch_size):
        with transaction.atomic(using=alias):
            total += change(OutboxMessage.objects.using(alias).filter(pk__in=ids))
            after_commit(alias)
    return total


def retry(queryset: QuerySet[OutboxMessage], batch_size: int = DEFAULT_BATCH) -> int:
    """Dead or waiting (pending) messages become due now, with their attempts reset; returns how many."""
    def change(batch: QuerySet[OutboxMessage]) -> int:
        return batch.update(
            status=Status.PENDING, available_at=timezone.now(), attempts=0, lease_until=None, lease_owner="")

    return _apply(queryset, [Status.DEAD, Status.PENDING], change, batch_size)


def discard(queryset: QuerySet[OutboxMessage], reason: str, batch_size: int = DEFAULT_BATCH) -> int:
    """Pending or dead messages are kept but marked discarded, with the reason; returns how many."""
    if not reason.strip():
        raise ValueError("a reason is required to discard messages")

    def change(batch: QuerySet[OutboxMessage]) -> int:
        return batch.update(
            status=Status.DISCARDED, last_error=f"discarded: {reason}", lease_until=None, lease_owner="")

    return _apply(queryset, [Status.DEAD, Status.PENDING], change, batch_size)


def replay(queryset: QuerySet[OutboxMessage], batch_size: int = DEFAULT_BATCH) -> int:
    """Sent messages are published again with the same message id (consumers' inboxes drop them
    unless their dedup window has passed); returns how many."""
    def change(batch: QuerySet[OutboxMessage]) -> int:
        return batch.update(
            status=Status.PENDING, available_at=timezone.now(), attempts=0, lease_until=None, lease_owner="")

    return _apply(queryset, [Status.SENT], change, batch_size)
