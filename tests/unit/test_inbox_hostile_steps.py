"""Handler-side arithmetic and names that hostile messages reach: a sent time in year 10000 with a ttl, a routing
key that is not an outbox topic for a fault, a content header py-amqp cannot decode."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from struct import pack

import pytest
from amqp.serialization import decode_properties_basic, loads

from inbox.faults import fault_topic
from inbox.message import Message
from inbox.processing import is_expired
from inbox.registry import HandlerSpec
from outbox.transports.amqp_frames import guard_content_headers, guard_delivery_names
from outbox.wire import UNDECODABLE_HEADER as UNDECODABLE
from tests.raw_amqp import basic_properties, shortstr, table, timestamp_entry

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
YEAR_10000 = datetime.fromisoformat("9999-12-31T23:59:59-01:00")


def spec(name: str = "billing.charge", **options: object) -> HandlerSpec:
    return HandlerSpec(name, lambda message: None, ("#",), **options)  # type: ignore[arg-type]


def message(topic: str = "orders.placed", sent_at: datetime | None = None) -> Message:
    return Message(id="m-1", topic=topic, payload={}, sent_at=sent_at)


@pytest.mark.parametrize(("sent_at", "ttl", "expired"), [
    pytest.param(YEAR_10000, 60, False, id="year-10000"),
    pytest.param(NOW - timedelta(seconds=61), 60, True, id="older-than-ttl"),
    pytest.param(NOW - timedelta(seconds=59), 60, False, id="younger-than-ttl"),
    pytest.param(datetime(1, 1, 1, tzinfo=timezone.utc), 1e300, False, id="huge-ttl"),
])
def test_is_expired__any_sent_time_and_ttl__answers_without_overflow(sent_at, ttl, expired):
    assert is_expired(message(sent_at=sent_at), spec(ttl=ttl), NOW) is expired


@pytest.mark.parametrize(("topic", "handler", "options", "expected"), [
    pytest.param("orders.placed", "billing.charge", {}, "orders.placed.fault", id="valid-topic"),
    pytest.param("orders placed", "billing.charge", {}, "billing.charge.fault", id="space"),
    pytest.param("orders:placed", "billing charge/card", {}, "billing_charge_card.fault", id="handler-sanitised"),
    pytest.param("commandes.passée", "é", {}, "inbox.fault", id="nothing-left-of-the-name"),
    pytest.param("o" * 250, "billing..charge", {}, "billing.charge.fault", id="too-long-empty-word"),
    pytest.param("orders placed", "billing", {"fault_topic": "billing.refused"}, "billing.refused", id="option"),
])
def test_fault_topic__topic_not_an_outbox_topic__handler_derived_topic(topic, handler, options, expected):
    assert fault_topic(message(topic), spec(handler, **options), ".fault") == expected


def test_fault_topic__very_long_handler_name__fits_an_outbox_topic():
    assert len(fault_topic(message("a b"), spec("h" * 300), ".fault").encode()) <= 255


def _frames_seen_by(properties: bytes) -> list[tuple[int, int, bytes]]:
    """Feed one content header through the guard around a frame handler that decodes it as py-amqp does."""
    seen: list[tuple[int, int, bytes]] = []

    def on_frame(frame: tuple[int, int, bytes]) -> bool:
        decode_properties_basic(frame[2], 12)
        seen.append(frame)
        return False

    guarded = guard_content_headers(on_frame)
    guarded((2, 1, pack(">HHQ", 60, 0, 2) + properties))
    return seen


def test_guard_content_headers__undecodable_header__replaced_by_one_naming_the_reason_and_the_id():
    [(_, channel, buf)] = _frames_seen_by(basic_properties(content_type=b"\xff", message_id=b"m-\xff"))
    properties, _ = decode_properties_basic(buf, 12)
    assert channel == 1 and buf[:12] == pack(">HHQ", 60, 0, 2)
    assert properties["message_id"] == "m-\\xff"
    assert properties["application_headers"][UNDECODABLE].startswith("content header cannot be decoded: "
                                                                      "UnicodeDecodeError")


def test_guard_content_headers__header_behind_an_undecodable_table__id_still_salvaged():
    headers = table(timestamp_entry(b"when", 2**64 - 1))
    [(_, _, buf)] = _frames_seen_by(basic_properties(headers=headers, message_id=b"m-2"))
    assert decode_properties_basic(buf, 12)[0]["message_id"] == "m-2"


def test_guard_content_headers__decodable_header__passed_through_unchanged():
    properties = basic_properties(content_type=b"application/json", message_id=b"m-3")
    [(_, _, buf)] = _frames_seen_by(properties)
    assert buf == pack(">HHQ", 60, 0, 2) + properties


def _delivery_seen_by(exchange: bytes, routing_key: bytes) -> list[tuple[int, int, bytes]]:
    """Feed a basic.deliver frame and its content header through the name guard; returns what passed on."""
    seen: list[tuple[int, int, bytes]] = []
    guarded = guard_delivery_names(lambda frame: seen.append(frame))
    guarded((1, 3, pack(">HH", 60, 60) + shortstr(b"ctag") + pack(">QB", 7, 1) + shortstr(exchange)
             + shortstr(routing_key)))
    guarded((2, 3, pack(">HHQ", 60, 0, 2) + basic_properties(content_type=b"application/json", message_id=b"m-4")))
    return seen


def test_guard_delivery_names__exchange_and_routing_key_not_utf8__escaped_and_header_names_the_reason():
    [(_, _, method), (_, _, header)] = _delivery_seen_by(b"ex-\xff", b"orders.\xfe")
    assert loads("sLbss", method, 4)[0] == ["ctag", 7, True, "ex-\\xff", "orders.\\xfe"]
    properties, _ = decode_properties_basic(header, 12)
    assert properties["message_id"] == "m-4"
    assert properties["application_headers"][UNDECODABLE].startswith(
        "exchange is not UTF-8: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 3")
    assert "; routing key is not UTF-8: " in properties["application_headers"][UNDECODABLE]


def test_guard_delivery_names__utf8_names__frames_passed_through_unchanged():
    frames = _delivery_seen_by(b"events", "commandes.pass\u00e9e".encode())
    assert loads("sLbss", frames[0][2], 4)[0] == ["ctag", 7, True, "events", "commandes.pass\u00e9e"]
    assert frames[1][2] == pack(">HHQ", 60, 0, 2) + basic_properties(content_type=b"application/json",
                                                                       message_id=b"m-4")
