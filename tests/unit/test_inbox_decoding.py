"""decode(): what it refuses (and why) on the properties alone, before any bytes reach a decoder other than
json.loads; and the Message it builds from an accepted delivery."""

from __future__ import annotations

import json
import pickle
import zlib
from datetime import datetime, timezone
from typing import Any

import pytest

from inbox.decoding import decode, storable
from inbox.exceptions import InboxError, RejectedMessage
from outbox.wire import Delivery

LIMIT = 1000


def delivery(body: bytes = b'{"order": 1}', routing_key: str = "orders.placed", headers: dict[str, Any] | None = None,
             **properties: Any) -> Delivery:
    properties.setdefault("message_id", "m-1")
    properties.setdefault("content_type", "application/json")
    return Delivery(body, routing_key, properties, headers or {})


@pytest.mark.parametrize(("given", "reason"), [
    pytest.param(delivery(message_id=""), "no message_id property", id="no-message-id"),
    pytest.param(delivery(message_id=None), "no message_id property", id="message-id-none"),
    pytest.param(delivery(pickle.dumps({"a": 1}), content_type="application/x-python-serialize"),
                 "content type 'application/x-python-serialize' refused", id="pickle"),
    pytest.param(delivery(b"a: 1", content_type="application/x-yaml"), "content type 'application/x-yaml' refused",
                 id="yaml"),
    pytest.param(delivery(b"\x81", content_type="application/x-msgpack"), "'application/x-msgpack' refused",
                 id="msgpack"),
    pytest.param(delivery(content_type="text/plain"), "content type 'text/plain' refused", id="text-plain"),
    pytest.param(delivery(content_type="application/jsonx"), "'application/jsonx' refused", id="json-lookalike"),
    pytest.param(delivery(content_encoding="gzip"), "compressed or encoded body refused ('gzip')",
                 id="content-encoding"),
    pytest.param(delivery(zlib.compress(b"{}"), headers={"compression": "application/zlib"}),
                 "compressed or encoded body refused ('application/zlib')", id="compression-header"),
    pytest.param(delivery(b" " * (LIMIT + 1)), f"body of {LIMIT + 1} bytes exceeds the limit of {LIMIT}",
                 id="over-limit"),
    pytest.param(delivery(b"{'order': 1}"), "body is not UTF-8 JSON", id="not-json"),
    pytest.param(delivery(b"\xc3\x28"), "body is not UTF-8 JSON", id="not-utf8"),
    pytest.param(delivery(b""), "body is not UTF-8 JSON", id="empty-body"),
    pytest.param(delivery(b"[NaN]"), "NaN is not a JSON value", id="nan"),
    pytest.param(delivery(b"-Infinity"), "-Infinity is not a JSON value", id="minus-infinity"),
    pytest.param(delivery(b"[" * 600), "body is not UTF-8 JSON", id="nested-past-recursion-limit"),
    pytest.param(delivery(b"[" * 101 + b"]" * 101), "nested deeper than 100 levels", id="nested-too-deep"),
    pytest.param(delivery(json.dumps({"a": "\x00"}).encode()), "NUL character", id="nul-in-payload"),
    pytest.param(delivery(json.dumps({"\x00": 1}).encode()), "NUL character", id="nul-in-payload-key"),
    pytest.param(delivery(headers={"trace": ["ok", "\x00"]}), "NUL character", id="nul-in-header"),
    pytest.param(delivery(message_id="m\x00"), "NUL character", id="nul-in-message-id"),
    pytest.param(delivery(correlation_id="c\x00"), "NUL character", id="nul-in-correlation-id"),
])
def test_decode__bad_delivery__rejected_with_reason(given, reason):
    with pytest.raises(RejectedMessage) as raised:
        decode(given, LIMIT)
    assert reason in str(raised.value)
    assert isinstance(raised.value, InboxError)


def test_decode__pickle_body__refused_before_unpickling(tmp_path):
    class Trap:
        def __reduce__(self):
            return open, (str(tmp_path / "unpickled"), "w")

    with pytest.raises(RejectedMessage):
        decode(delivery(pickle.dumps(Trap()), content_type="application/x-python-serialize"), LIMIT)
    assert not (tmp_path / "unpickled").exists()


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/json",
    "application/cloudevents+json", "", None,
])
def test_decode__json_content_types__accepted(content_type):
    assert decode(delivery(content_type=content_type), LIMIT).payload == {"order": 1}


@pytest.mark.parametrize("encoding", ["utf-8", "UTF8", "binary", "", None])
def test_decode__text_encodings__accepted(encoding):
    assert decode(delivery(content_encoding=encoding), LIMIT).payload == {"order": 1}


def test_decode__body_at_limit__accepted():
    body = json.dumps("x" * (LIMIT - 2)).encode()
    assert len(body) == LIMIT
    assert decode(delivery(body), LIMIT).payload == "x" * (LIMIT - 2)


def test_decode__nested_100_levels__accepted():
    assert decode(delivery(b"[" * 99 + b"]" * 99), LIMIT).payload is not None


def test_decode__full_envelope__message_fields():
    sent = "2024-05-01T12:00:00+00:00"
    message = decode(delivery(
        json.dumps({"order": 1, "name": "Zoë"}).encode(), correlation_id="checkout-1",
        headers={"key": "order-1", "sequence": "7", "causation_id": "cause-1", "traceparent": "00-abc-def-01",
                 "expires_at": "2024-05-02T12:00:00+00:00", "cloudEvents:time": sent, "raw": b"bytes",
                 "when": datetime(2024, 5, 1, tzinfo=timezone.utc)}), LIMIT)

    assert (message.id, message.topic, message.payload) == ("m-1", "orders.placed", {"order": 1, "name": "Zoë"})
    assert (message.key, message.sequence) == ("order-1", 7)
    assert (message.correlation_id, message.causation_id, message.traceparent) == ("checkout-1", "cause-1",
                                                                                   "00-abc-def-01")
    assert message.expires_at == datetime(2024, 5, 2, 12, tzinfo=timezone.utc)
    assert message.sent_at == datetime.fromisoformat(sent)
    assert message.headers["raw"] == "bytes" and message.headers["when"] == "2024-05-01T00:00:00+00:00"
    assert message.attempt == 1


def test_decode__foreign_producer_minimum__defaults():
    message = decode(Delivery(b"[1, 2]", "", {"message_id": "m-9", "type": "hotel.booked"}, {}), LIMIT)

    assert (message.topic, message.payload) == ("hotel.booked", [1, 2])  # no routing key: the type property
    assert message.correlation_id == "m-9"  # the conversation starts with this message
    assert (message.key, message.sequence, message.causation_id) == (None, None, "")
    assert (message.traceparent, message.expires_at, message.sent_at) == (None, None, None)


@pytest.mark.parametrize("headers", [
    {"sequence": "seven"}, {"expires_at": "tomorrow"}, {"expires_at": "2024-05-02T12:00:00"}, {"key": ""},
])
def test_decode__unusable_optional_headers__ignored(headers):
    message = decode(delivery(headers=headers), LIMIT)
    assert (message.key, message.sequence, message.expires_at) == (None, None, None)


def test_storable__nul_replaced_everywhere():
    assert storable({"a\x00": ["x\x00y", 1, None, ("\x00",)]}) == {"a\ufffd": ["x\ufffdy", 1, None, ["\ufffd"]]}


def test_decode__byte_array_header_holding_binary_data__accepted_as_lossy_text():
    # An AMQP 'x' header (a binary trace id, a hash) or a long string that is not UTF-8 arrives as bytes; it
    # was turned into text keeping its zero bytes, then refused as unstorable: every such message died.
    message = decode(delivery(headers={"trace": b"\x00\x01\xff", "nested": [{"raw": b"a\x00"}]}), LIMIT)
    assert message.headers == {"trace": "\ufffd\x01\ufffd", "nested": [{"raw": "a\ufffd"}]}
