"""The one door through which operators change inbox messages: which action may change which statuses
(:data:`LEGAL`), and how it is done safely while the consumers and the retry poller run.

Locks are taken in one order everywhere: the ordering keys first (their ``KeyPosition`` rows, sorted),
then the message rows. The retry poller and the consumer take them in that order too
(``inbox/processing.py``), so an operator and a worker never wait for each other in a circle. Under the
locks each row's status is checked again: a row the poller applied after the operator chose it is done,
and done is final. Whatever removes the head of an ordered key (discard, purge) releases the key's next
message under the same key lock, so a message arriving meanwhile cannot be left blocked behind nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import QuerySet
from django.utils import timezone

from inbox import ordering
from inbox.conf import inbox_settings
from inbox.models import InboxMessage, Status
from outbox import transitions
from outbox.operations import DEFAULT_BATCH, in_batches
from outbox.routing import for_writing
from outbox.transitions import Changed

logger = logging.getLogger(__name__)

#: Action -> the statuses it may change. Anything else (done above all) is left as it is.
LEGAL: dict[str, tuple[str, ...]] = {
    "retry": (Status.DEAD.value, Status.WAITING.value, Status.BLOCKED.value),
    "discard": (Status.DEAD.value, Status.WAITING.value, Status.BLOCKED.value),
}
LEFT_BLOCKED = "left blocked: an earlier message of its key is not finished"

Key = tuple[str, str]


def eligible(queryset: QuerySet[InboxMessage], action: str) -> QuerySet[InboxMessage]:
    """The rows of ``queryset`` that ``action`` may change. Messages refused on the wire (no handler) are
    never retried: there is nothing to run them."""
    rows = queryset.filter(status__in=LEGAL[action])
    return rows.exclude(handler="") if action == "retry" else rows


def retry(queryset: QuerySet[InboxMessage], batch_size: int = DEFAULT_BATCH, actor: str = "") -> Changed:
    """Dead, waiting and blocked messages become due now with a fresh set of retries; returns how many,
    with a note for blocked messages left blocked because an earlier message of their key is unfinished."""
    queryset = for_writing(queryset)  # read where written: never from a replica the router reads from
    changed = left = 0
    for ids in in_batches(eligible(queryset, "retry"), batch_size):
        transitions.before_write(ids)
        with transaction.atomic(using=queryset.db):
            rows, _ = _locked(ids, "retry", queryset.db)
            for row in rows:
                if row.status == Status.BLOCKED and ordering.is_blocked(row, _dead_blocks(), queryset.db):
                    left += 1
                    continue
                _note(row, "retried", actor)
                row.status, row.available_at, row.attempts, row.first_failed_at = (
                    Status.WAITING, timezone.now(), 0, None)
                row.save(using=queryset.db, update_fields=["status", "available_at", "attempts", "first_failed_at",
                                                           "history"])
                changed += 1
    return Changed(changed, (f"{left} {LEFT_BLOCKED}",) if left else ())


def discard(queryset: QuerySet[InboxMessage], reason: str, batch_size: int = DEFAULT_BATCH, actor: str = ""
            ) -> Changed:
    """Dead, waiting or blocked messages are kept but marked discarded with the reason; a key whose head
    this removes releases its next message. Returns how many were discarded."""
    if not reason.strip():
        raise ValueError("a reason is required to discard messages")
    queryset = for_writing(queryset)
    changed = 0
    for ids in in_batches(eligible(queryset, "discard"), batch_size):
        transitions.before_write(ids)
        with transaction.atomic(using=queryset.db):
            rows, keys = _locked(ids, "discard", queryset.db)
            for row in rows:
                _note(row, f"discarded: {reason}", actor)
                row.status, row.processed_at, row.available_at = Status.DISCARDED, timezone.now(), None
                row.save(using=queryset.db, update_fields=["status", "processed_at", "available_at", "history"])
            _release(keys, queryset.db)
            changed += len(rows)
    return Changed(changed)


def delete_and_release(batch: QuerySet[InboxMessage]) -> int:
    """Delete the rows of ``batch`` (one batch of a purge); a key whose dead head goes releases its next
    message. Returns how many rows were deleted."""
    with transaction.atomic(using=batch.db):
        keys = _lock_keys(batch.filter(status=Status.DEAD), batch.db)
        deleted, _ = batch.delete()
        _release(keys, batch.db)
    return deleted


def release_stranded(limit: int, using: str = DEFAULT_DB_ALIAS) -> int:
    """Self-healing, run by the retry poller: release blocked messages with nothing ahead of them in their
    key (up to ``limit`` keys), which nothing else would ever release. Returns how many were released (0
    when none is stranded, the normal case)."""
    stranded = (InboxMessage.objects.using(using).releasable(_dead_blocks()).order_by()
                .values_list("handler", "key").distinct()[:limit])
    released = 0
    for handler, key in _pairs(stranded):
        with transaction.atomic(using=using):
            ordering.lock_key(handler, key, using)
            rows = _release([(handler, key)], using)
        for message in rows:
            released += 1
            logger.warning("blocked message %s of key %s (%s) had nothing ahead of it: released", message.message_id,
                           key, handler, extra={"action": "inbox_self_heal", "message_id": message.message_id})
    return released


def _locked(ids: list[Any], action: str, using: str) -> tuple[list[InboxMessage], list[Key]]:
    """Lock the ordering keys of the rows ``ids``, then the rows that ``action`` may still change (their
    status is read again under the lock); returns those rows, in key order, and the keys."""
    manager = InboxMessage.objects.using(using)
    keys = _lock_keys(manager.filter(pk__in=ids), using)
    rows = eligible(manager.filter(pk__in=ids), action).select_for_update().order_by("handler", "key", "sequence", "pk")
    return list(rows), keys


def _lock_keys(queryset: QuerySet[InboxMessage], using: str) -> list[Key]:
    """Lock the ordering key of every keyed row of ``queryset``, in sorted order; returns the keys."""
    keys = sorted(set(_pairs(queryset.filter(sequence__isnull=False).exclude(handler="").order_by()
                             .values_list("handler", "key"))))
    for handler, key in keys:
        ordering.lock_key(handler, key, using)
    return keys


def _pairs(found: Iterable[tuple[str, str | None]]) -> list[Key]:
    """The (handler, key) pairs of ``found`` that have a key."""
    return [(handler, key) for handler, key in found if key is not None]


def _release(keys: list[Key], using: str) -> list[InboxMessage]:
    """Release the next blocked message of each of ``keys`` (locked) that nothing holds back any more."""
    now = timezone.now()
    released = [ordering.release_if_free(handler, key, _dead_blocks(), now, using) for handler, key in keys]
    return [row for row in released if row is not None]


def _dead_blocks() -> bool:
    return bool(inbox_settings.DEAD_BLOCKS_KEY)


def _note(row: InboxMessage, event: str, actor: str) -> None:
    entry = {"at": timezone.now().isoformat(), "event": event, "attempt": row.attempts}
    if actor:
        entry["by"] = actor
    row.history = [*(row.history or []), entry]
