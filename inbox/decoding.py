"""From bytes on the wire to a :class:`Message`, refusing bad input before decoding anything.

Only JSON is accepted: pickle, YAML, msgpack or any other content type, compressed bodies and
oversized bodies are refused on their properties alone, so no untrusted bytes reach a decoder
other than ``json.loads``. Nothing named in a message is ever imported.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from inbox.exceptions import RejectedMessage
from inbox.message import Message, build_message
from outbox.wire import COMPRESSION_HEADER, UNDECODABLE_HEADER, Delivery, read_headers

JSON_TYPES = frozenset({"application/json", "text/json"})
TEXT_ENCODINGS = frozenset({"", "utf-8", "utf8", "binary"})
MAX_DEPTH = 100
#: Characters PostgreSQL text and jsonb cannot hold (NUL), or that cannot be encoded as UTF-8 (lone surrogates).
UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")
#: Length of the inbox's short text columns (message id, topic, key, correlation and causation ids).
SHORT_TEXT = 255
BIGINT = 2**63 - 1

def decode(delivery: Delivery, max_bytes: int) -> Message:
    """Check and decode a delivery. Raises :class:`RejectedMessage` with the reason."""
    if delivery.headers.get(UNDECODABLE_HEADER):
        raise RejectedMessage(str(delivery.headers[UNDECODABLE_HEADER]))
    if not delivery.message_id:
        raise RejectedMessage("no message_id property: the inbox cannot deduplicate it")
    _check_envelope(delivery, max_bytes)
    try:
        payload = json.loads(delivery.body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RejectedMessage(f"body is not UTF-8 JSON: {exc}") from exc
    message = _message(delivery, payload)
    _check_storable((message.id, message.topic, message.correlation_id, message.headers, message.payload))
    _check_sizes(message)
    return message


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) and jsonb refuses them: same endless failure as NUL.
    raise ValueError(f"{name} is not a JSON value")


def _check_envelope(delivery: Delivery, max_bytes: int) -> None:
    content_type = str(delivery.properties.get("content_type") or "").split(";")[0].strip().lower()
    if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise RejectedMessage(f"content type {content_type!r} refused: only application/json is accepted")
    encoding = str(delivery.properties.get("content_encoding") or "").lower()
    compression = delivery.headers.get(COMPRESSION_HEADER)
    if encoding not in TEXT_ENCODINGS or compression:
        raise RejectedMessage(f"compressed or encoded body refused ({encoding or compression!r}): "
                              "bodies are never decompressed")
    if len(delivery.body) > max_bytes:
        raise RejectedMessage(f"body of {len(delivery.body)} bytes exceeds the limit of {max_bytes}")


def _message(delivery: Delivery, payload: Any) -> Message:
    headers = {str(k): plain(v) for k, v in delivery.headers.items()}
    topic = str(delivery.routing_key or delivery.properties.get("type") or "")
    correlation_id = str(delivery.properties.get("correlation_id") or delivery.message_id)
    return build_message(delivery.message_id, topic, payload, headers, correlation_id, read_headers(headers))


def plain(value: Any, depth: int = 0) -> Any:
    """Header values as JSON-friendly values (AMQP tables may carry bytes and datetimes). Bytes become text with
    invalid UTF-8 and zero bytes replaced by U+FFFD (binary data is common there; text with NUL is refused later).

    Raises :class:`RejectedMessage` for tables nested deeper than ``MAX_DEPTH``: the inbox could not store
    them, and a few hundred levels would overflow Python's stack here (a RecursionError, not a refusal)."""
    if depth > MAX_DEPTH:
        raise RejectedMessage(f"headers or payload nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, bytes):  # an 'x' byte array, or a long string that is not UTF-8: text, lossy either way
        return storable(value.decode("utf-8", "replace"))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return value


def _check_storable(value: Any, depth: int = 0) -> None:
    """Refuse what the inbox table cannot store: PostgreSQL text and jsonb hold no NUL character, and a
    very deep value overflows the stack when saved. Either would fail at every redelivery, like an outage."""
    if depth > MAX_DEPTH:
        raise RejectedMessage(f"headers or payload nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str) and UNSTORABLE_CHARS.search(value):
        raise RejectedMessage("NUL character or lone surrogate in the id, topic, headers or payload: "
                              "the inbox table cannot store it")
    if isinstance(value, float) and not math.isfinite(value):  # 1e400 in a body, a NaN header: not JSON
        raise RejectedMessage(f"{value} in the headers or payload: not a JSON value, the inbox table cannot store it")
    if isinstance(value, Mapping):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_storable(item, depth + 1)


def _check_sizes(message: Message) -> None:
    """Refuse short texts longer than their column and a sequence outside PostgreSQL's bigint, for the same reason."""
    for name in ("id", "topic", "key", "correlation_id", "causation_id"):
        if len(getattr(message, name) or "") > SHORT_TEXT:
            raise RejectedMessage(f"{name} longer than {SHORT_TEXT} characters: the inbox table cannot store it")
    if message.sequence is not None and not -BIGINT - 1 <= message.sequence <= BIGINT:
        raise RejectedMessage(f"sequence {message.sequence} out of range: the inbox table cannot store it")


def storable(value: Any) -> Any:
    """``value`` as PostgreSQL text and jsonb can hold it: NUL characters and lone surrogates replaced by
    U+FFFD, NaN and infinities as strings."""
    if isinstance(value, str):
        return UNSTORABLE_CHARS.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value
