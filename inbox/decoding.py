"""From bytes on the wire to a :class:`Message`, refusing bad input before decoding anything.

Only JSON is accepted: pickle, YAML, msgpack or any other content type, compressed bodies and
oversized bodies are refused on their properties alone, so no untrusted bytes reach a decoder
other than ``json.loads``. Nothing named in a message is ever imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inbox.exceptions import RejectedMessage
from inbox.message import Message

JSON_TYPES = frozenset({"application/json", "text/json"})
TEXT_ENCODINGS = frozenset({"", "utf-8", "utf8", "binary"})


@dataclass(frozen=True)
class Delivery:
    """What the broker handed over, before any decoding (transport-independent)."""

    body: bytes
    routing_key: str
    properties: Mapping[str, Any]
    headers: Mapping[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.properties.get("message_id") or "")


def decode(delivery: Delivery, max_bytes: int) -> Message:
    """Check and decode a delivery. Raises :class:`RejectedMessage` with the reason."""
    if not delivery.message_id:
        raise RejectedMessage("no message_id property: the inbox cannot deduplicate it")
    _check_envelope(delivery, max_bytes)
    try:
        payload = json.loads(delivery.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RejectedMessage(f"body is not UTF-8 JSON: {exc}") from exc
    return _message(delivery, payload)


def _check_envelope(delivery: Delivery, max_bytes: int) -> None:
    content_type = str(delivery.properties.get("content_type") or "").split(";")[0].strip().lower()
    if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise RejectedMessage(f"content type {content_type!r} refused: only application/json is accepted")
    encoding = str(delivery.properties.get("content_encoding") or "").lower()
    if encoding not in TEXT_ENCODINGS or delivery.headers.get("compression"):
        raise RejectedMessage(f"compressed or encoded body refused ({encoding or delivery.headers['compression']!r}): "
                              "bodies are never decompressed")
    if len(delivery.body) > max_bytes:
        raise RejectedMessage(f"body of {len(delivery.body)} bytes exceeds the limit of {max_bytes}")


def _message(delivery: Delivery, payload: Any) -> Message:
    headers = {str(k): plain(v) for k, v in delivery.headers.items()}
    key = headers.get("key")
    return Message(
        id=delivery.message_id,
        topic=str(delivery.routing_key or delivery.properties.get("type") or ""),
        payload=payload,
        headers=headers,
        key=str(key) if key not in (None, "") else None,
        sequence=_int(headers.get("sequence")),
        correlation_id=str(delivery.properties.get("correlation_id") or delivery.message_id),
        causation_id=str(headers.get("causation_id") or ""),
        traceparent=str(headers["traceparent"]) if headers.get("traceparent") else None,
        expires_at=parse_time(headers.get("expires_at")),
        sent_at=parse_time(headers.get("cloudEvents:time")),
    )


def plain(value: Any) -> Any:
    """Header values as JSON-friendly values (AMQP tables may carry bytes and datetimes)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
