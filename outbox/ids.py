"""Message ids: UUID version 7 (RFC 9562), time-ordered.

Why not ``uuid4``: a random key lands on a random leaf of every B-tree it is in (the primary key, and
``outbox_correlation``, whose value defaults to the message's own id). On a table that outgrows memory
each insert then dirties a different page, and after every checkpoint the first change of a page writes
the whole 8 KiB page to the WAL. A time-ordered id is appended at the right edge of the index instead.
On the wire it is still an opaque UUID; its first 48 bits tell the millisecond it was made.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_RANDOM_BITS = 62
_lock = threading.Lock()
_last = 0


def uuid7() -> uuid.UUID:
    """A new UUIDv7: 48 bits of Unix time in milliseconds, 12 bits of sub-millisecond time (RFC 9562
    method 3), 62 random bits. Ids made by one process increase strictly, even if the clock steps back."""
    global _last
    value = _compose(time.time_ns(), int.from_bytes(os.urandom(8), "big") >> (64 - _RANDOM_BITS))
    with _lock:
        if value <= _last:  # same 1/4096 ms as the previous id, or the clock went back: count on from it
            value = _successor(_last)
        _last = value
    return uuid.UUID(int=value)


def _compose(nanoseconds: int, random_bits: int) -> int:
    milliseconds, rest = divmod(nanoseconds, 1_000_000)
    fraction = rest * 4096 // 1_000_000  # the sub-millisecond part, in 1/4096 ms
    return _pack((milliseconds & 0xFFFF_FFFF_FFFF) << 74 | fraction << 62 | random_bits)


def _successor(value: int) -> int:
    """The next UUIDv7 after ``value``: its 122 time and random bits + 1, carrying past the version and
    variant bits instead of into them."""
    counter = (value >> 80) << 74 | (value >> 64 & 0xFFF) << 62 | value & ((1 << 62) - 1)
    return _pack((counter + 1) & ((1 << 122) - 1))


def _pack(counter: int) -> int:
    """Place 122 bits (48 time, 12 sub-millisecond, 62 random) around the version and variant fields."""
    return (counter >> 74) << 80 | _VERSION | (counter >> 62 & 0xFFF) << 64 | _VARIANT | counter & ((1 << 62) - 1)


def short(message_id: object) -> str:
    """Eight characters that tell messages apart in lists and logs: the end of a UUID, its random part (a
    UUIDv7 starts with the time, the same for every message of the same minute); other ids cut to 13."""
    text = str(message_id)
    try:
        return uuid.UUID(text).hex[-8:]
    except ValueError:
        return text[:13]
