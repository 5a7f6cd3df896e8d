"""The message a handler receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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
