"""A message as the relay holds it between claim and publish: only what goes on the wire.

The relay reads claimed rows straight from the claiming ``UPDATE ... RETURNING``, not as model
instances: the payload stays the JSON text the database returns (it is sent as it is, never parsed
and re-encoded) and no model is built per message. At thousands of messages a second that
per-message work was a fifth of the relay's time (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.utils.dateparse import parse_datetime

#: The columns the claim returns, in the order :meth:`Claimed.from_row` reads them.
COLUMNS = ("id", "topic", "exchange", "routing_key", "key", "seq", "payload", "headers", "correlation_id",
           "causation_id", "attempts", "created_at", "available_at", "expires_at")


@dataclass(frozen=True, slots=True)
class Claimed:
    """One leased outbox message: its wire fields, the payload as JSON bytes, and its attempts so far."""

    id: uuid.UUID
    topic: str
    exchange: str | None
    routing_key: str
    key: str | None
    seq: int | None
    body: bytes
    headers: dict[str, Any]
    correlation_id: str
    causation_id: str
    attempts: int
    created_at: datetime
    available_at: datetime
    expires_at: datetime | None

    @property
    def payload(self) -> Any:
        """The payload, decoded (the relay itself never needs it: it sends :attr:`body`)."""
        return json.loads(self.body)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Claimed:
        """From a database row in :data:`COLUMNS` order, as PostgreSQL or SQLite return it."""
        (id_, topic, exchange, routing_key, key, seq, payload, headers, correlation_id, causation_id, attempts,
         created_at, available_at, expires_at) = row
        return cls(id_ if isinstance(id_, uuid.UUID) else uuid.UUID(id_), topic, exchange, routing_key, key, seq,
                   _json_bytes(payload), _json_value(headers) or {}, correlation_id, causation_id, attempts,
                   _aware(created_at), _aware(available_at), None if expires_at is None else _aware(expires_at))


def _json_bytes(value: Any) -> bytes:
    """A JSON column as UTF-8 text: drivers return the text (Django decodes JSON itself), bytes, or a value."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _aware(value: datetime | str) -> datetime:
    """A timestamp column as an aware datetime (SQLite returns naive UTC text)."""
    moment = value if isinstance(value, datetime) else parse_datetime(value)
    if moment is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
