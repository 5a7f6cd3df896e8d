"""The AMQP 0-9-1 content-header properties of an envelope, encoded in one pass.

py-amqp encodes a message's properties and header table generically, value by value, every time:
for the relay's messages (7 properties, 5 ``cloudEvents:*`` headers and more) that cost about 40 us
per message, more than a third of what publishing a message costs RabbitMQ itself (docs/benchmarks.md).
Here the constant parts (flag word, content type and encoding, header names) are encoded once and the
strings and integers that vary are packed directly; any other header value goes through py-amqp's own
table encoder. The result is byte for byte what py-amqp produces (tests/unit/test_amqp_properties.py
checks it against py-amqp for generated envelopes).

Property order and types: AMQP 0-9-1, class ``basic`` (the order of ``amqp.Message.PROPERTIES``).
"""

from __future__ import annotations

import calendar
import functools
import struct
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import amqp
from amqp.serialization import _write_item  # type: ignore[attr-defined]  # py-amqp's own value encoder

_LONG = struct.Struct(">I").pack
_LONGLONG = struct.Struct(">Q").pack
_FLAG = struct.Struct(">H").pack
_INT32 = struct.Struct(">cI").pack
_INT64 = struct.Struct(">cq").pack
_SIGNED32 = struct.Struct(">ci").pack

#: (name, type) in the order AMQP encodes them; each present property sets one flag bit, from bit 15 down.
_PROPERTIES = [name for name, _ in amqp.Message.PROPERTIES]


class PrebuiltMessage(amqp.Message):
    """An ``amqp.Message`` whose content-header properties were encoded beforehand."""

    def __init__(self, body: bytes, encoded_properties: bytes) -> None:
        super().__init__(body)
        self._encoded_properties = encoded_properties

    def _serialize_properties(self) -> bytes:
        return self._encoded_properties


def encode(properties: Mapping[str, Any], headers: Mapping[str, Any]) -> bytes:
    """The property flags and list for ``properties`` (py-amqp names; ``timestamp`` in Unix seconds or a
    datetime) and the header table ``headers``, as py-amqp would write them."""
    values = {**properties, "application_headers": headers}  # an empty table is still sent, as py-amqp does
    flags = 0
    parts: list[bytes] = []
    for bit, name in enumerate(_PROPERTIES):
        value = values.get(name)
        if value is None:
            continue
        flags |= 1 << (15 - bit)
        parts.append(_ENCODERS[name](value))
    return _FLAG(flags) + b"".join(parts)


def check_routing_key(routing_key: str) -> None:
    """Raise ValueError when ``routing_key`` does not fit basic.publish's short string (py-amqp would raise
    struct.error from inside the publish, out of the relay's batch)."""
    try:
        _shortstr(routing_key)
    except ValueError as exc:
        raise ValueError(f"routing key: {exc}") from exc


def _shortstr(value: str | bytes) -> bytes:
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    if len(raw) > 255:
        raise ValueError(f"AMQP short string longer than 255 bytes: {raw[:40]!r}...")
    return bytes((len(raw),)) + raw


@functools.lru_cache(maxsize=64)
def _constant_shortstr(value: str) -> bytes:
    """Content type, encoding and the like repeat on every message: encode each once."""
    return _shortstr(value)


def _octet(value: int) -> bytes:
    return bytes((value,))


def _timestamp(value: int | datetime) -> bytes:
    seconds = calendar.timegm(value.utctimetuple()) if isinstance(value, datetime) else value
    return _LONGLONG(seconds)


@functools.lru_cache(maxsize=256)
def _field_name(name: str) -> bytes:
    return _shortstr(name)


def _table(headers: Mapping[str, Any]) -> bytes:
    parts: list[bytes] = []
    for name, value in headers.items():
        parts.append(_field_name(name))
        kind = type(value)
        if kind is str:
            raw = value.encode("utf-8", "surrogatepass")
            parts.append(_INT32(b"S", len(raw)))
            parts.append(raw)
        elif kind is int:
            parts.append(_SIGNED32(b"I", value) if -2147483647 <= value <= 2147483647 else _INT64(b"L", value))
        else:  # bool, float, None, nested tables and arrays, ...: py-amqp's own encoder
            _write_item(value, parts.append, [])
    data = b"".join(parts)
    return _LONG(len(data)) + data


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "content_type": _constant_shortstr,
    "content_encoding": _constant_shortstr,
    "application_headers": _table,
    "delivery_mode": _octet,
    "priority": _octet,
    "correlation_id": _shortstr,
    "reply_to": _shortstr,
    "expiration": _shortstr,
    "message_id": _shortstr,
    "timestamp": _timestamp,
    "type": _shortstr,
    "user_id": _shortstr,
    "app_id": _shortstr,
    "cluster_id": _shortstr,
}
