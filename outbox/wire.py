"""The wire format, both directions: how an outbox row becomes an AMQP message any language can read, and
what a received message is before the inbox decodes it (:class:`Delivery`).

Body: the payload as UTF-8 JSON. Properties: message_id, timestamp, type (the topic),
content_type, content_encoding, correlation_id, persistent delivery. Headers: the user's headers,
``key``, ``sequence``, ``causation_id``, optional ``expires_at`` and ``traceparent``, and the
CloudEvents AMQP binding attributes (``cloudEvents:*``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.core.serializers.json import DjangoJSONEncoder

CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"
CE_PREFIX = "cloudEvents:"
KEY_HEADER = "key"
SEQUENCE_HEADER = "sequence"
CAUSATION_HEADER = "causation_id"
EXPIRES_HEADER = "expires_at"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
#: The CloudEvents time attribute: when the message was written (the inbox's ``sent_at``).
CE_TIME_HEADER = f"{CE_PREFIX}time"
#: kombu's compression header: the inbox refuses compressed bodies (they are never decompressed).
COMPRESSION_HEADER = "compression"
#: Header set by the AMQP transport's frame guard (transports/amqp_frames.py) on a message whose content header
#: could not be decoded: the reason. The inbox records such a message dead.
UNDECODABLE_HEADER = "x-inbox-undecodable"
#: Header names the library writes; user headers may not use them (nor the cloudEvents: prefix).
RESERVED_HEADERS = frozenset({KEY_HEADER, SEQUENCE_HEADER, CAUSATION_HEADER, EXPIRES_HEADER})


def dumps(value: Any) -> str:
    """Strict JSON (no NaN or Infinity), with Django's encoder for dates, decimals and UUIDs."""
    return json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Envelope:
    """One message ready for the broker."""

    message_id: str
    routing_key: str
    body: bytes
    properties: Mapping[str, Any]
    headers: Mapping[str, Any] = field(default_factory=dict)


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


@dataclass(frozen=True)
class HeaderFields:
    """What the library's headers say about a received message (see :func:`read_headers`)."""

    key: str | None = None
    sequence: int | None = None
    causation_id: str = ""
    traceparent: str | None = None
    expires_at: datetime | None = None
    sent_at: datetime | None = None


def read_headers(headers: Mapping[str, Any]) -> HeaderFields:
    """The fields the library's headers carry, each None (or "") when absent or unreadable: the reading of
    :func:`envelope_for`'s headers, for whoever receives them."""
    key = headers.get(KEY_HEADER)
    traceparent = headers.get(TRACEPARENT_HEADER)
    return HeaderFields(key=str(key) if key not in (None, "") else None, sequence=_int(headers.get(SEQUENCE_HEADER)),
                        causation_id=str(headers.get(CAUSATION_HEADER) or ""),
                        traceparent=str(traceparent) if traceparent else None,
                        expires_at=parse_time(headers.get(EXPIRES_HEADER)),
                        sent_at=parse_time(headers.get(CE_TIME_HEADER)))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset; None when absent, unreadable or naive."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class WireMessage(Protocol):
    """What the wire format reads of a message: an outbox row, or what the relay claimed of one."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def topic(self) -> str: ...

    @property
    def routing_key(self) -> str: ...

    @property
    def key(self) -> str | None: ...

    @property
    def seq(self) -> int | None: ...

    @property
    def headers(self) -> Mapping[str, Any]: ...

    @property
    def correlation_id(self) -> str: ...

    @property
    def causation_id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def expires_at(self) -> datetime | None: ...

    @property
    def payload(self) -> Any: ...


def envelope_for(message: WireMessage, source: str, body: bytes | None = None) -> Envelope:
    """Build the AMQP message for an outbox row; ``body`` is the payload's JSON when the caller has it
    already (the relay: as the database returned it), else the row's payload is encoded here."""
    message_id = str(message.id)
    properties = {
        "content_type": CONTENT_TYPE,
        "content_encoding": CONTENT_ENCODING,
        "delivery_mode": 2,
        "message_id": message_id,
        "timestamp": message.created_at,
        "type": message.topic,
        "correlation_id": message.correlation_id or message_id,
    }
    if body is None:
        body = dumps(message.payload).encode()
    return Envelope(message_id, message.routing_key or message.topic, body, properties, _headers(message, source))


def _headers(message: WireMessage, source: str) -> dict[str, Any]:
    headers: dict[str, Any] = dict(message.headers or {})
    if message.key is not None:
        headers[KEY_HEADER] = message.key
        headers[SEQUENCE_HEADER] = message.seq
    if message.causation_id:
        headers[CAUSATION_HEADER] = message.causation_id
    if message.expires_at is not None:
        headers[EXPIRES_HEADER] = message.expires_at.isoformat()
    headers.update(cloudevents_attributes(message, source))
    return headers


def cloudevents_attributes(message: WireMessage, source: str) -> dict[str, str]:
    """The CloudEvents 1.0 AMQP protocol binding, binary mode: attributes as prefixed headers."""
    return {
        f"{CE_PREFIX}specversion": "1.0",
        f"{CE_PREFIX}id": str(message.id),
        f"{CE_PREFIX}source": source,
        f"{CE_PREFIX}type": message.topic,
        CE_TIME_HEADER: message.created_at.isoformat(),
    }
