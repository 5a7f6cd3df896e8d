"""Operator actions on inbox messages, shared by the admin, the management commands and tests.

Each takes a queryset and returns how many rows changed; work happens in bounded batches. They go through
the inbox's one door, ``inbox/transitions.py``, which says which statuses each action may change.
"""

from __future__ import annotations

from django.db.models import QuerySet

from inbox import transitions
from inbox.models import InboxMessage
from outbox.operations import DEFAULT_BATCH

RETRYABLE = list(transitions.LEGAL["retry"])


def retry(queryset: QuerySet[InboxMessage], batch_size: int = DEFAULT_BATCH, actor: str = "") -> int:
    """Dead, waiting or blocked messages become due now with a fresh set of retries; returns how many.

    A blocked message is retried only when nothing is ahead of it in its key any more. Messages refused on
    the wire (no handler) cannot be retried. Anything else (done above all) is left as it is.
    """
    return transitions.retry(queryset, batch_size, actor).count


def discard(queryset: QuerySet[InboxMessage], reason: str, batch_size: int = DEFAULT_BATCH, actor: str = "") -> int:
    """Dead, waiting or blocked messages are kept but marked discarded with the reason; the next
    message of an ordered key is released. Returns how many."""
    return transitions.discard(queryset, reason, batch_size, actor).count
