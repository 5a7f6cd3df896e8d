"""The message a handler receives, and the one place it is built (from a delivery or from a stored row)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from outbox.wire import HeaderFields


@dataclass(frozen=True)
class Message:
    """An incoming message, decoded and checked. ``attempt`` is 1 on the first try."""

    id: str
    topic: str
    payload: Any
    headers: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    sequence: int | None = None
    correlation_id: str = ""
    causation_id: str = ""
    traceparent: str | None = None
    expires_at: datetime | None = None
    sent_at: datetime | None = None
    attempt: int = 1


def build_message(id: str, topic: str, payload: Any, headers: dict[str, Any], correlation_id: str,
                  fields: HeaderFields, attempt: int = 1) -> Message:
    """The handler's message: ``fields`` as :func:`outbox.wire.read_headers` read them from ``headers`` (or as
    a stored row keeps them)."""
    return Message(id=id, topic=topic, payload=payload, headers=headers, key=fields.key, sequence=fields.sequence,
                   correlation_id=correlation_id, causation_id=fields.causation_id, traceparent=fields.traceparent,
                   expires_at=fields.expires_at, sent_at=fields.sent_at, attempt=attempt)
