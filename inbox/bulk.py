"""Inbox operator actions over a selection, as the ``inbox_replay`` command runs them (see ``outbox/bulk.py``)."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

from inbox import operations, transitions
from inbox.selection import select_inbox
from outbox.bulk import ProgressCallback, apply_in_batches
from outbox.operations import DEFAULT_BATCH
from outbox.selection import Selection

RETRYABLE = transitions.LEGAL["retry"]


def requeue(selection: Selection, *, batch_size: int = DEFAULT_BATCH, rate: float | None = None,
            dry_run: bool = False, on_progress: ProgressCallback | None = None, actor: str = "",
            using: str = DEFAULT_DB_ALIAS) -> int:
    """Dead, waiting or blocked messages of ``selection`` become due now with a fresh set of retries
    (:func:`inbox.operations.retry`, which notes ``actor`` in each message's history; a blocked message only
    when nothing is ahead of it in its key any more).

    Returns how many were re-queued (with ``dry_run``: would be); 0 when none match. Messages refused on
    the wire (no handler) are never re-queued. Raises :class:`~outbox.exceptions.InvalidSelection` for
    a status other than dead, waiting or blocked.
    """
    statuses = selection.restrict(RETRYABLE, "re-queue")
    queryset = transitions.eligible(select_inbox(selection, using).filter(status__in=statuses), "retry")
    return apply_in_batches(queryset, lambda batch: operations.retry(batch, batch_size, actor=actor),
                            batch_size=batch_size, rate=rate, dry_run=dry_run, on_progress=on_progress)
