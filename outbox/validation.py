"""Argument checks for publish(): each bad argument raises its own exception before anything is written."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from outbox import exceptions
from outbox.wire import CE_PREFIX, RESERVED_HEADERS, dumps

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
    try:
        return json.loads(dumps(payload))
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
    try:
        return dict(json.loads(dumps(dict(headers))))
    except (TypeError, ValueError) as exc:
        raise exceptions.InvalidHeaders(f"headers are not JSON-serializable: {exc}") from exc


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
