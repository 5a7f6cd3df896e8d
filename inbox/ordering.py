"""Per-key order and staleness for handlers that ask for them.

Ordered handlers consume from a single-active-consumer queue, so the broker hands a key's messages
to one worker in the order the relay published them (which is the order they were written). What
is left to the inbox: a key's later messages wait (``blocked``) while an earlier one waits for a
delayed retry or is dead, and are released one by one, in sequence order, when it finishes.
All of this happens under a row lock on the key's :class:`KeyPosition`, so the retry poller and a
consumer never decide about the same key at the same time.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connections
from django.utils import timezone

from inbox.models import InboxMessage, KeyPosition, Status


def lock_key(handler: str, key: str, using: str) -> KeyPosition:
    """Create-or-lock the key's position row; held until the current transaction ends."""
    quote = connections[using].ops.quote_name
    table, handler_col, key_col = quote(KeyPosition._meta.db_table), quote("handler"), quote("key")
    with connections[using].cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({handler_col}, {key_col}, {quote('sequence')}, {quote('applied_at')}) "
                       f"VALUES (%s, %s, 0, %s) ON CONFLICT ({handler_col}, {key_col}) DO NOTHING",
                       [handler, key, timezone.now()])
    return KeyPosition.objects.using(using).select_for_update().get(handler=handler, key=key)


def is_blocked(row: InboxMessage, dead_blocks: bool, using: str) -> bool:
    """True when an earlier message of the row's key is still unfinished for the same handler."""
    if row.key is None or row.sequence is None:
        return False
    earlier = InboxMessage.objects.using(using).earlier_unfinished(row.handler, row.key, row.sequence, dead_blocks)
    return earlier.exclude(pk=row.pk).exists()


def is_stale(position: KeyPosition | None, row: InboxMessage) -> bool:
    """A message written before the last one applied for its key."""
    return position is not None and row.sequence is not None and row.sequence <= position.sequence


def advance(position: KeyPosition | None, row: InboxMessage, now: datetime) -> None:
    if position is not None and row.sequence is not None and row.sequence > position.sequence:
        position.sequence, position.applied_at = row.sequence, now
        position.save(update_fields=["sequence", "applied_at"])


def release_if_free(handler: str, key: str, dead_blocks: bool, now: datetime, using: str) -> InboxMessage | None:
    """Make the key's first blocked message due when nothing is ahead of it any more; returns it (None when
    none waits, or it is still held back). Call with the key locked (:func:`lock_key`)."""
    following = InboxMessage.objects.using(using).next_blocked(handler, key)
    if following is None or is_blocked(following, dead_blocks, using):
        return None
    following.status, following.available_at = Status.WAITING, now
    following.save(update_fields=["status", "available_at"])
    return following


def release_next(row: InboxMessage, now: datetime, using: str) -> InboxMessage | None:
    """Make the key's next blocked message due; returns it (None when none waits)."""
    if row.key is None:
        return None
    following = InboxMessage.objects.using(using).next_blocked(row.handler, row.key)
    if following is not None:
        following.status, following.available_at = Status.WAITING, now
        following.save(update_fields=["status", "available_at"])
    return following
