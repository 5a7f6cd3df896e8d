"""Inbox operator actions over a selection, as the ``inbox_replay`` command runs them (see ``outbox/bulk.py``)."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

from inbox import operations
from inbox.models import Status
from inbox.selection import select_inbox
from outbox.bulk import ProgressCallback, apply_in_batches
from outbox.operations import DEFAULT_BATCH
from outbox.selection import Selection

RETRYABLE = (Status.DEAD.value, Status.WAITING.value)


def requeue(selection: Selection, *, batch_size: int = DEFAULT_BATCH, rate: float | None = None,
            dry_run: bool = False, on_progress: ProgressCallback | None = None, actor: str = "",
            using: str = DEFAULT_DB_ALIAS) -> int:
    """Dead or waiting messages of ``selection`` become due now with a fresh set of retries
    (:func:`inbox.operations.retry`, which notes ``actor`` in each message's history).

    Returns how many were re-queued (with ``dry_run``: would be); 0 when none match. Messages refused on
    the wire (no handler) are never re-queued. Raises :class:`~outbox.exceptions.InvalidSelection` for
    a status other than dead or waiting.
    """
    statuses = selection.restrict(RETRYABLE, "re-queue")
    queryset = select_inbox(selection, using).filter(status__in=statuses).exclude(handler="")
    return apply_in_batches(queryset, lambda batch: operations.retry(batch, batch_size, actor=actor),
                            batch_size=batch_size, rate=rate, dry_run=dry_run, on_progress=on_progress)
