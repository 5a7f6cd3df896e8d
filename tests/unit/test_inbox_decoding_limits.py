"""decode() refuses what the inbox table cannot store, so such a message is recorded dead at once instead of
failing its INSERT at every redelivery (found by tests/integration/test_consumer_fuzz.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inbox.decoding import decode, storable
from inbox.exceptions import RejectedMessage
from outbox.wire import Delivery

LIMIT = 10_000


def delivery(body: bytes = b'{"order": 1}', headers: dict[str, Any] | None = None, **properties: Any) -> Delivery:
    properties.setdefault("message_id", "m-1")
    return Delivery(body, "orders.placed", properties, headers or {})


@pytest.mark.parametrize(("given", "reason"), [
    pytest.param(delivery(message_id="m" * 256), "id longer than 255", id="long-message-id"),
    pytest.param(delivery(correlation_id="c" * 256), "correlation_id longer than 255", id="long-correlation-id"),
    pytest.param(delivery(headers={"key": "k" * 256}), "key longer than 255", id="long-key"),
    pytest.param(delivery(headers={"causation_id": "c" * 256}), "causation_id longer than 255", id="long-causation"),
    pytest.param(delivery(headers={"sequence": 2**63}), "sequence 9223372036854775808 out of range",
                 id="sequence-past-bigint"),
    pytest.param(delivery(b"[1e400]"), "inf in the headers or payload", id="overflowing-number-in-body"),
    pytest.param(delivery(headers={"score": float("nan")}), "nan in the headers or payload", id="nan-header"),
    pytest.param(delivery(headers={"x": [float("-inf")]}), "-inf in the headers or payload", id="nested-inf-header"),
    pytest.param(delivery(json.dumps({"a": "\ud800"}).encode()), "lone surrogate", id="lone-surrogate-in-body"),
])
def test_decode__value_the_table_cannot_store__rejected_with_reason(given, reason):
    with pytest.raises(RejectedMessage, match="cannot store") as raised:
        decode(given, LIMIT)
    assert reason in str(raised.value)


@pytest.mark.parametrize("sequence", ["1e400", "x", None])
def test_decode__unusable_sequence_header__message_without_sequence(sequence):
    assert decode(delivery(headers={"key": "k", "sequence": sequence}), LIMIT).sequence is None


@pytest.mark.parametrize("sequence", [float("inf"), float("nan")])
def test_decode__non_finite_sequence_header__rejected_not_overflowing(sequence):
    with pytest.raises(RejectedMessage, match="cannot store"):  # int(inf) raised OverflowError: the worker died
        decode(delivery(headers={"key": "k", "sequence": sequence}), LIMIT)


def test_storable__non_finite_floats_and_lone_surrogates__replaced():
    assert storable({"a": [float("nan"), float("inf")], "b\ud800": "x\x00"}) == {"a": ["nan", "inf"],
                                                                                "b\ufffd": "x\ufffd"}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"n": value}
    return value


@pytest.mark.parametrize("depth", [101, 600, 1000, 5000])
def test_decode__headers_nested_past_the_recursion_limit__rejected_with_reason(depth):
    with pytest.raises(RejectedMessage, match="nested deeper than 100 levels"):
        decode(delivery(headers={"deep": _nested(depth)}), LIMIT)


def test_decode__marked_undecodable_by_the_frame_guard__rejected_with_its_reason():
    given = delivery(headers={"x-inbox-undecodable": "content header cannot be decoded: ValueError: bad"})
    with pytest.raises(RejectedMessage, match=r"^content header cannot be decoded: ValueError: bad$"):
        decode(given, LIMIT)
