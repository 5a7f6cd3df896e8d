"""Argument checks for publish(): each bad argument raises its own exception before anything is written."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from outbox import exceptions
from outbox.limits import SizeLimits, header_size
from outbox.transports import amqp_properties
from outbox.wire import (
    CE_PREFIX,
    RESERVED_HEADERS,
    TRACEPARENT_HEADER,
    TRACESTATE_HEADER,
    WireMessage,
    dumps,
    envelope_for,
)

# Dot-separated words, as AMQP topic exchanges route them; '*' and '#' are binding wildcards, not topics.
# fullmatch, not match with "$": "$" also matches before a trailing newline.
TOPIC_RE = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")
MAX_NAME = 255


def check_topic(topic: object) -> str:
    if not isinstance(topic, str) or not TOPIC_RE.fullmatch(topic) or len(topic.encode()) > MAX_NAME:
        raise exceptions.InvalidTopic(
            f"invalid topic {topic!r}: use dot-separated words of letters, digits, '_' and '-', "
            f"at most {MAX_NAME} bytes (e.g. 'orders.placed')")
    return topic


def check_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_NAME:
        raise exceptions.InvalidKey(f"invalid key {key!r}: a non-empty string of at most {MAX_NAME} characters")
    return key


def check_payload(payload: object) -> Any:
    """Returns the payload as it will be stored: JSON round-tripped, so what is kept is what is sent."""
    return check_payload_body(payload)[0]


def check_payload_body(payload: object) -> tuple[Any, int]:
    """The payload as :func:`check_payload` returns it, and the size in bytes of its JSON body."""
    try:
        body = dumps(payload).encode()
        return json.loads(body), len(body)
    except (TypeError, ValueError) as exc:
        raise exceptions.InvalidPayload(f"payload is not JSON-serializable: {exc}") from exc


def check_headers(headers: object) -> dict[str, Any]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping) or not all(isinstance(name, str) for name in headers):
        raise exceptions.InvalidHeaders("headers must be a dict with string names")
    clash = sorted(n for n in headers if n in RESERVED_HEADERS or n.startswith(CE_PREFIX))
    if clash:
        raise exceptions.InvalidHeaders(f"reserved header names: {', '.join(clash)}")
    _check_trace_context(headers)
    try:
        return dict(json.loads(dumps(dict(headers))))
    except (TypeError, ValueError) as exc:
        raise exceptions.InvalidHeaders(f"headers are not JSON-serializable: {exc}") from exc


# W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header): version (not ff), trace id,
# parent id (neither all zeros) and flags, in lowercase hex; 55 characters in the only version there is.
TRACEPARENT_RE = re.compile(r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
TRACEPARENT_LENGTH = 55
# https://www.w3.org/TR/trace-context/#tracestate-header: up to 32 comma-separated key=value members.
TRACESTATE_MEMBER_RE = re.compile(r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
                                  r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")
MAX_TRACESTATE = 512
MAX_TRACESTATE_MEMBERS = 32


def is_traceparent(value: object) -> bool:
    """Whether ``value`` is a valid W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<2 hex>``, ids not all zero)."""
    return isinstance(value, str) and len(value) == TRACEPARENT_LENGTH and bool(TRACEPARENT_RE.fullmatch(value))


def is_tracestate(value: object) -> bool:
    """Whether ``value`` is a valid W3C ``tracestate``: at most 512 characters and 32 ``key=value`` members."""
    if not isinstance(value, str) or len(value) > MAX_TRACESTATE:
        return False
    members = [member.strip(" \t") for member in value.split(",")]
    members = [member for member in members if member]
    return len(members) <= MAX_TRACESTATE_MEMBERS and all(TRACESTATE_MEMBER_RE.fullmatch(m) for m in members)


def _check_trace_context(headers: Mapping[str, Any]) -> None:
    for name, valid in ((TRACEPARENT_HEADER, is_traceparent), (TRACESTATE_HEADER, is_tracestate)):
        if name in headers and not valid(headers[name]):
            raise exceptions.InvalidHeaders(
                f"{name} {str(headers[name])[:80]!r} is not valid W3C trace context: a traceparent is "
                f"'00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>' with non-zero ids, a tracestate "
                f"at most {MAX_TRACESTATE} characters of key=value members")


#: An upper bound of what the library adds to the user's headers: seven AMQP properties and the key, sequence,
#: causation, expiry and CloudEvents headers, strings of at most 255 characters (4 bytes each at worst) but for
#: the source. Below the limit with this room, the exact encoding is not needed (it costs ~30 us a message).
LIBRARY_HEADER_ROOM = 8192
#: A keyed message's sequence number is assigned after the check: room for its largest encoding.
SEQUENCE_ROOM = 8


def check_size(message: WireMessage, body_bytes: int, source: str) -> None:
    """Raise MessageTooLarge when the message would exceed OUTBOX_MAX_BODY_BYTES or OUTBOX_MAX_HEADER_BYTES."""
    limits = SizeLimits.from_settings()
    header_bytes = LIBRARY_HEADER_ROOM + len(source.encode()) + len(amqp_properties.encode({}, message.headers))
    if header_bytes > limits.header:  # near the limit: measure exactly
        room = SEQUENCE_ROOM if message.key is not None else 0
        header_bytes = header_size(envelope_for(message, source, b"")) + room
    problem = limits.problem(body_bytes, header_bytes)
    if problem is not None:
        raise exceptions.MessageTooLarge(f"message too large: {problem}")


def check_seconds(value: object, name: str) -> timedelta | None:
    """A delay or expiry as a timedelta; None stays None."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise exceptions.InvalidDelay(f"{name} must be seconds or a timedelta, not {type(value).__name__}")
    if not seconds >= 0:  # also rejects NaN
        raise exceptions.InvalidDelay(f"{name} must not be negative: {value!r}")
    return timedelta(seconds=seconds)


def check_message_id(message_id: object) -> uuid.UUID | None:
    if message_id is None or isinstance(message_id, uuid.UUID):
        return message_id
    try:
        return uuid.UUID(str(message_id))
    except ValueError as exc:
        raise exceptions.InvalidMessageId(f"message id {message_id!r} is not a UUID") from exc


def check_id_text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise exceptions.InvalidMessage(f"{name} must be a string of at most {MAX_NAME} characters")
    return value
