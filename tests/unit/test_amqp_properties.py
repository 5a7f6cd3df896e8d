"""The relay's property encoder must write exactly what py-amqp writes for the same message."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal

import amqp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outbox.transports import amqp_properties
from outbox.wire import Envelope

names = st.text(min_size=1, max_size=30)
scalars = (st.text(max_size=80) | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1) | st.booleans()
           | st.floats(allow_nan=False) | st.none())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                      max_leaves=6)
short = st.text(min_size=1, max_size=60)


def py_amqp_bytes(properties: dict, headers: dict) -> bytes:
    given_properties = dict(properties)
    stamp = given_properties.pop("timestamp", None)
    seconds = int(stamp.timestamp()) if isinstance(stamp, datetime) else stamp
    return amqp.Message(b"{}", application_headers=dict(headers), timestamp=seconds,
                        **given_properties)._serialize_properties()


@settings(max_examples=400, deadline=None)
@given(headers=st.dictionaries(names, values, max_size=8), topic=short, correlation=short | st.none(),
       seconds=st.integers(min_value=0, max_value=2**40), with_optional=st.booleans())
def test_encode__generated_messages__same_bytes_as_py_amqp(headers, topic, correlation, seconds, with_optional):
    properties = {"content_type": "application/json", "content_encoding": "utf-8", "delivery_mode": 2,
                  "message_id": str(uuid.uuid4()), "timestamp": seconds, "type": topic,
                  "correlation_id": correlation}
    if with_optional:
        properties.update(priority=5, reply_to="replies", expiration="60000", app_id="shop")
    assert amqp_properties.encode(properties, headers) == py_amqp_bytes(properties, headers)


def test_encode__relay_envelope_with_datetime_timestamp__same_bytes_as_py_amqp():
    created = datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=timezone.utc)
    envelope = Envelope("id-1", "orders.placed", b"{}", {"content_type": "application/json",
                        "content_encoding": "utf-8", "delivery_mode": 2, "message_id": "id-1", "timestamp": created,
                        "type": "orders.placed", "correlation_id": "id-1"},
                        {"cloudEvents:time": created.isoformat(), "sequence": 2**40, "price": Decimal("9.99")})
    assert (amqp_properties.encode(envelope.properties, envelope.headers)
            == py_amqp_bytes(dict(envelope.properties), dict(envelope.headers)))


def test_encode__short_string_over_255_bytes__value_error():
    with pytest.raises(ValueError, match="255 bytes"):
        amqp_properties.encode({"type": "é" * 200}, {})


def test_prebuilt_message__hands_py_amqp_the_encoded_bytes():
    message = amqp_properties.PrebuiltMessage(b"body", b"\x00\x00")
    assert message._serialize_properties() == b"\x00\x00"
    assert message.body == b"body"
