"""Operator actions on outbox messages, shared by the admin, the management commands and tests.

Each takes a queryset (what the operator selected or filtered) and returns how many rows changed.
Rows are changed in bounded batches so that acting on a million rows never holds one huge lock.
Which statuses each action may change is written once, in :data:`outbox.transitions.LEGAL`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Now

from outbox import transitions
from outbox.models import OutboxMessage, Status
from outbox.relay.wakeup import after_commit
from outbox.routing import for_writing

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


def _apply(queryset: QuerySet[OutboxMessage], action: str, values: dict[str, Any], batch_size: int) -> int:
    """UPDATE the rows of ``queryset`` that ``action`` may change to ``values``, batch by batch.

    The UPDATE repeats the allowed statuses: a row the relay sent (or failed) after the batch was chosen
    no longer matches once its lock is granted, and is left alone.
    """
    queryset = for_writing(queryset)  # read where written: an admin changelist may read from a replica
    allowed = transitions.LEGAL[action]
    manager = OutboxMessage.objects.using(queryset.db)
    total = 0
    for ids in in_batches(queryset.filter(status__in=allowed), batch_size):
        transitions.before_write(ids)
        with transaction.atomic(using=queryset.db):
            total += manager.filter(pk__in=ids, status__in=allowed).update(**values)
            after_commit(queryset.db)
    return total


def _due_now() -> dict[str, Any]:
    return {"status": Status.PENDING, "available_at": Now(), "attempts": 0, "lease_until": None,
            "lease_owner": ""}


def retry(queryset: QuerySet[OutboxMessage], batch_size: int = DEFAULT_BATCH) -> int:
    """Dead or waiting (pending) messages become due now, with their attempts reset; returns how many.
    A message sent meanwhile stays sent."""
    return _apply(queryset, "retry", _due_now(), batch_size)


def discard(queryset: QuerySet[OutboxMessage], reason: str, batch_size: int = DEFAULT_BATCH) -> int:
    """Pending or dead messages are kept but marked discarded, with the reason; returns how many. A message
    sent meanwhile stays sent. The next message of a discarded head's key becomes claimable at once (the
    relay's claim skips discarded messages)."""
    if not reason.strip():
        raise ValueError("a reason is required to discard messages")
    return _apply(queryset, "discard", {"status": Status.DISCARDED, "last_error": f"discarded: {reason}",
                                        "lease_until": None, "lease_owner": ""}, batch_size)


def replay(queryset: QuerySet[OutboxMessage], batch_size: int = DEFAULT_BATCH) -> int:
    """Sent messages are published again with the same message id (consumers' inboxes drop them
    unless their dedup window has passed); returns how many."""
    return _apply(queryset, "replay", _due_now(), batch_size)
