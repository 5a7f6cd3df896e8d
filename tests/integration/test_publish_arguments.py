"""outbox.publish() arguments: each bad one raises its own exception and writes nothing; good ones are stored
as given (delay, per-key sequence, what a message inherits from the message being handled)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.db import transaction

import outbox
from outbox.context import Cause, caused_by
from outbox.exceptions import (
    DuplicateMessageId,
    InvalidDelay,
    InvalidHeaders,
    InvalidKey,
    InvalidMessageId,
    InvalidPayload,
    InvalidTopic,
    MessageTooLarge,
    OutboxError,
)
from outbox.models import OutboxKey, OutboxMessage
from outbox.relay import Relay

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BAD_ARGUMENTS = [
    pytest.param({"topic": "orders.*"}, InvalidTopic, id="topic-star-wildcard"),
    pytest.param({"topic": "#"}, InvalidTopic, id="topic-hash-wildcard"),
    pytest.param({"topic": "orders.#"}, InvalidTopic, id="topic-hash-word"),
    pytest.param({"topic": ""}, InvalidTopic, id="topic-empty"),
    pytest.param({"topic": "a" * 256}, InvalidTopic, id="topic-too-long"),
    pytest.param({"topic": 42}, InvalidTopic, id="topic-not-str"),
    pytest.param({"topic": None}, InvalidTopic, id="topic-none"),
    pytest.param({"topic": "orders..placed"}, InvalidTopic, id="topic-empty-word"),
    pytest.param({"topic": "orders placed"}, InvalidTopic, id="topic-space"),
    pytest.param({"topic": "orders.placed\n"}, InvalidTopic, id="topic-trailing-newline"),
    pytest.param({"payload": object()}, InvalidPayload, id="payload-object"),
    pytest.param({"payload": float("nan")}, InvalidPayload, id="payload-nan"),
    pytest.param({"payload": {"total": float("inf")}}, InvalidPayload, id="payload-nested-infinity"),
    pytest.param({"payload": {1, 2}}, InvalidPayload, id="payload-set"),
    pytest.param({"key": 7}, InvalidKey, id="key-int"),
    pytest.param({"key": ""}, InvalidKey, id="key-empty"),
    pytest.param({"key": "k" * 256}, InvalidKey, id="key-too-long"),
    pytest.param({"headers": ["tenant", "acme"]}, InvalidHeaders, id="headers-not-dict"),
    pytest.param({"headers": {1: "acme"}}, InvalidHeaders, id="headers-name-not-str"),
    pytest.param({"headers": {"key": "k"}}, InvalidHeaders, id="headers-reserved-key"),
    pytest.param({"headers": {"sequence": 1}}, InvalidHeaders, id="headers-reserved-sequence"),
    pytest.param({"headers": {"cloudEvents:id": "x"}}, InvalidHeaders, id="headers-reserved-cloudevents-id"),
    pytest.param({"headers": {"tenant": object()}}, InvalidHeaders, id="headers-value-not-json"),
    pytest.param({"headers": {"ratio": float("nan")}}, InvalidHeaders, id="headers-value-nan"),
    pytest.param({"delay": -1}, InvalidDelay, id="delay-negative"),
    pytest.param({"delay": timedelta(seconds=-1)}, InvalidDelay, id="delay-negative-timedelta"),
    pytest.param({"delay": "5"}, InvalidDelay, id="delay-str"),
    pytest.param({"delay": float("nan")}, InvalidDelay, id="delay-nan"),
    pytest.param({"expires_in": -0.5}, InvalidDelay, id="expires-in-negative"),
    pytest.param({"message_id": "not-a-uuid"}, InvalidMessageId, id="message-id-not-uuid"),
    pytest.param({"message_id": 12345}, InvalidMessageId, id="message-id-int"),
    pytest.param({"headers": {"traceparent": "00-own"}}, InvalidHeaders, id="traceparent-malformed"),
    pytest.param({"headers": {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}}, InvalidHeaders,
                 id="traceparent-zero-trace-id"),
    pytest.param({"headers": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01"}},
                 InvalidHeaders, id="traceparent-zero-parent-id"),
    pytest.param({"headers": {"traceparent": "00-" + "a" * 130_000}}, InvalidHeaders, id="traceparent-130kb"),
    pytest.param({"headers": {"tracestate": "vendor=" + "v" * 600}}, InvalidHeaders, id="tracestate-too-long"),
    pytest.param({"headers": {"tracestate": "Vendor=1"}}, InvalidHeaders, id="tracestate-bad-key"),
    pytest.param({"headers": {"tracestate": "vendor=a,b"}}, InvalidHeaders, id="tracestate-member-without-value"),
    pytest.param({"headers": {"tracestate": 7}}, InvalidHeaders, id="tracestate-not-str"),
    pytest.param({"headers": {"blob": "x" * 70_000}}, MessageTooLarge, id="headers-over-64kib"),
    pytest.param({"payload": {"blob": "x" * (16 * 1024 * 1024)}}, MessageTooLarge, id="body-over-16mib"),
]


def outbox_state() -> tuple[list[tuple[str, int]], list[uuid.UUID]]:
    """Everything publish() can write: the ordering keys' counters and the message ids."""
    keys = list(OutboxKey.objects.order_by("key").values_list("key", "last_seq"))
    return keys, list(OutboxMessage.objects.order_by("id").values_list("id", flat=True))


@pytest.fixture
def existing() -> OutboxMessage:
    """One message already in the outbox, so "nothing written" is checked against a non-empty table."""
    return outbox.publish("orders.placed", {"order": 1}, key="order-1")


@pytest.mark.parametrize(("overrides", "error"), BAD_ARGUMENTS)
def test_publish__bad_argument__raises_its_exception_and_writes_nothing(existing, overrides, error):
    arguments = {"topic": "orders.placed", "payload": {"order": 2}, "key": "order-1"} | overrides
    before = outbox_state()
    with pytest.raises(error) as excinfo:
        outbox.publish(**arguments)
    assert excinfo.type is error
    assert isinstance(excinfo.value, OutboxError) and str(excinfo.value)
    assert outbox_state() == before


@pytest.mark.parametrize(("overrides", "error"), BAD_ARGUMENTS[::4])
def test_publish__bad_argument_inside_transaction__callers_transaction_commits(existing, overrides, error):
    arguments = {"topic": "orders.placed", "payload": {"order": 2}, "key": "order-1"} | overrides
    with transaction.atomic():
        with pytest.raises(error):
            outbox.publish(**arguments)
        later = outbox.publish("orders.shipped", {"order": 1}, key="order-1")
    assert later.seq == 2
    assert OutboxMessage.objects.filter(pk=later.pk).exists()


def test_publish__same_message_id_twice_in_one_transaction__duplicate_error_and_later_write_commits():
    message_id = uuid.uuid4()
    with transaction.atomic():
        outbox.publish("orders.placed", {"n": 1}, key="order-1", message_id=message_id)
        with pytest.raises(DuplicateMessageId):
            outbox.publish("orders.placed", {"n": 2}, key="order-1", message_id=str(message_id))
        later = outbox.publish("orders.shipped", {"n": 3}, key="order-1")
    rows = OutboxMessage.objects.order_by("seq").values_list("id", "seq", "payload")
    assert list(rows) == [(message_id, 1, {"n": 1}), (later.id, 2, {"n": 3})]
    assert OutboxKey.objects.get(key="order-1").last_seq == 2  # the failed write's sequence number was undone


def test_publish__message_id_already_committed__duplicate_error_and_nothing_written():
    message_id = uuid.uuid4()
    outbox.publish("orders.placed", {"n": 1}, key="order-1", message_id=message_id)
    before = outbox_state()
    with pytest.raises(DuplicateMessageId):
        outbox.publish("orders.placed", {"n": 2}, key="order-1", message_id=message_id)
    assert outbox_state() == before
    assert OutboxMessage.objects.get(pk=message_id).payload == {"n": 1}


def test_publish_many__same_message_id_twice_in_one_batch__duplicate_error_and_nothing_written(existing):
    message_id = uuid.uuid4()
    before = outbox_state()
    with pytest.raises(DuplicateMessageId):
        outbox.publish_many([outbox.OutgoingMessage("orders.placed", {"n": n}, key="order-1", message_id=message_id)
                             for n in range(2)])
    assert outbox_state() == before


def test_publish_many__one_bad_message_among_good_ones__raises_and_writes_nothing(existing):
    good = [outbox.OutgoingMessage("orders.placed", {"n": n}, key=f"order-{n}") for n in range(4)]
    bad = outbox.OutgoingMessage("orders.placed", {"n": float("nan")}, key="order-9")
    before = outbox_state()
    with pytest.raises(InvalidPayload):
        outbox.publish_many([*good[:2], bad, *good[2:]])
    assert outbox_state() == before


def test_publish_many__empty__returns_empty_list_and_writes_nothing(existing):
    before = outbox_state()
    assert outbox.publish_many([]) == []
    assert outbox_state() == before


def test_publish_many__more_values_than_one_statement_takes__every_row_stored_as_given():
    # 19 columns x 4,000 rows = 76,000 values: more than PostgreSQL takes in one statement (65,535).
    with transaction.atomic():
        rows = outbox.publish_many(outbox.OutgoingMessage("bulk.big", {"n": n}, key=f"k{n % 7}", headers={"h": n})
                                   for n in range(4000))
    stored = {m.id: m for m in OutboxMessage.objects.filter(topic="bulk.big")}
    assert len(stored) == 4000
    for row in rows:
        assert (stored[row.id].payload, stored[row.id].headers, stored[row.id].key, stored[row.id].seq,
                stored[row.id].created_at) == (row.payload, row.headers, row.key, row.seq, row.created_at)
    assert sorted(m.seq for m in stored.values() if m.key == "k0") == list(range(1, 573))


def test_publish__delay__available_later_and_not_relayed_before(bound_queue):
    queue = bound_queue()
    delayed = outbox.publish("orders.reminder", {"order": 1}, delay=timedelta(minutes=5))
    in_seconds = outbox.publish("orders.reminder", {"order": 2}, delay=90)
    expiring = outbox.publish("orders.offer", {"order": 3}, expires_in=60)
    rows = {m.id: m for m in OutboxMessage.objects.all()}
    assert rows[delayed.id].available_at - rows[delayed.id].created_at == timedelta(minutes=5)
    assert rows[in_seconds.id].available_at - rows[in_seconds.id].created_at == timedelta(seconds=90)
    assert rows[expiring.id].expires_at - rows[expiring.id].created_at == timedelta(seconds=60)
    assert rows[expiring.id].available_at == rows[expiring.id].created_at
    result = Relay().drain()
    assert (result.claimed, result.sent) == (1, 1)  # only the undelayed message was due
    assert [r.message_id for r in queue.take(1)] == [str(expiring.id)]
    assert set(OutboxMessage.objects.pending().values_list("id", flat=True)) == {delayed.id, in_seconds.id}


def test_publish__same_key__sequence_1_2_3_in_write_order_independent_per_key():
    first = outbox.publish("orders.placed", {"step": 1}, key="order-1")
    other = outbox.publish("orders.placed", {"step": 1}, key="order-2")
    with transaction.atomic():
        second = outbox.publish("orders.paid", {"step": 2}, key="order-1")
        third, unkeyed = outbox.publish_many([outbox.OutgoingMessage("orders.shipped", {"step": 3}, key="order-1"),
                                              outbox.OutgoingMessage("audit.logged", {"step": 0})])
    stored = dict(OutboxMessage.objects.values_list("id", "seq"))
    assert [stored[m.id] for m in (first, second, third)] == [1, 2, 3]
    assert stored[other.id] == 1
    assert stored[unkeyed.id] is None
    assert dict(OutboxKey.objects.values_list("key", "last_seq")) == {"order-1": 3, "order-2": 1}


def test_publish__rolled_back_keyed_message__its_sequence_number_is_reused():
    outbox.publish("orders.placed", {"step": 1}, key="order-1")
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.publish("orders.paid", {"step": 2}, key="order-1")
        raise RuntimeError("domain failure")
    again = outbox.publish("orders.paid", {"step": 2}, key="order-1")
    assert again.seq == 2
    assert list(OutboxMessage.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]


OWN_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_publish__inside_handler__inherits_correlation_causation_and_traceparent_on_the_wire(bound_queue):
    queue = bound_queue("orders.*")
    cause = Cause(message_id="incoming-41", correlation_id="conversation-9",
                  traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    with caused_by(cause), transaction.atomic():
        inherited = outbox.publish("orders.shipped", {"order": 1})
        explicit = outbox.publish("orders.billed", {"order": 1}, correlation_id="mine", causation_id="other-1",
                                  headers={"traceparent": OWN_TRACEPARENT, "tracestate": "rojo=00f067aa0ba902b7"})
    outside = outbox.publish("orders.closed", {"order": 1})
    assert Relay().drain().sent == 3
    received = {r.message_id: r for r in queue.take(3)}
    wire = received[str(inherited.id)]
    assert wire.properties["correlation_id"] == "conversation-9"
    assert wire.headers["causation_id"] == "incoming-41"
    assert wire.headers["traceparent"] == cause.traceparent
    wire = received[str(explicit.id)]
    assert wire.properties["correlation_id"] == "mine"
    assert wire.headers["causation_id"] == "other-1"
    assert wire.headers["traceparent"] == OWN_TRACEPARENT
    assert wire.headers["tracestate"] == "rojo=00f067aa0ba902b7"
    wire = received[str(outside.id)]
    assert wire.properties["correlation_id"] == str(outside.id)
    assert "causation_id" not in wire.headers and "traceparent" not in wire.headers
    assert json.loads(wire.body) == {"order": 1}


@pytest.mark.parametrize("traceparent", [
    pytest.param("00-" + "a" * 130_000, id="130kb"),
    pytest.param("00-abc-def-01", id="short-ids"),
    pytest.param("00-" + "0" * 32 + "-00f067aa0ba902b7-01", id="zero-trace-id"),
    pytest.param("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id="version-ff"),
    pytest.param("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", id="uppercase"),
])
def test_publish__inside_handler_with_invalid_incoming_traceparent__stored_without_it(traceparent, caplog):
    cause = Cause(message_id="incoming-41", correlation_id="conversation-9", traceparent=traceparent)
    with caught_logs(caplog), caused_by(cause):
        message = outbox.publish("orders.shipped", {"order": 1})
    stored = OutboxMessage.objects.get(pk=message.pk)
    assert "traceparent" not in stored.headers
    assert (stored.correlation_id, stored.causation_id) == ("conversation-9", "incoming-41")
    dropped = [r for r in caplog.records if getattr(r, "action", None) == "outbox_trace_dropped"]
    assert len(dropped) == 1 and "traceparent" in dropped[0].getMessage()


def caught_logs(caplog):
    import logging

    return caplog.at_level(logging.DEBUG, logger="outbox.publisher")


def test_publish__body_over_max_body_bytes__error_names_limit_and_size_and_nothing_written(existing, settings):
    settings.OUTBOX_MAX_BODY_BYTES = 1000
    before = outbox_state()
    with pytest.raises(MessageTooLarge) as excinfo:
        outbox.publish("orders.placed", {"blob": "x" * 1000})
    assert "1,000" in str(excinfo.value) and "1,011" in str(excinfo.value)  # {"blob":"x..."}: 11 bytes around it
    assert "OUTBOX_MAX_BODY_BYTES" in str(excinfo.value)
    assert outbox_state() == before


def test_publish__headers_over_max_header_bytes__error_names_limit_and_size_and_nothing_written(existing):
    before = outbox_state()
    with pytest.raises(MessageTooLarge) as excinfo:
        outbox.publish("orders.placed", {"order": 2}, key="order-1", headers={"blob": "x" * 140_000})
    message = str(excinfo.value)
    assert "65,536" in message and "OUTBOX_MAX_HEADER_BYTES" in message
    assert re.search(r"14\d,\d{3} bytes", message)
    assert outbox_state() == before


def test_publish__headers_just_under_max_header_bytes__stored_and_relayed(bound_queue):
    queue = bound_queue("orders.*")
    message = outbox.publish("orders.placed", {"order": 2}, key="order-1", headers={"blob": "x" * 60_000})
    assert Relay().drain().sent == 1
    assert [r.message_id for r in queue.take(1)] == [str(message.id)]


def test_publish_many__one_oversized_among_good__message_too_large_and_nothing_written(existing):
    good = [outbox.OutgoingMessage("orders.placed", {"n": n}) for n in range(3)]
    bad = outbox.OutgoingMessage("orders.placed", {"n": 9}, headers={"blob": "x" * 140_000})
    before = outbox_state()
    with pytest.raises(MessageTooLarge):
        outbox.publish_many([*good, bad])
    assert outbox_state() == before


def test_send_task__oversized_arguments__message_too_large_and_nothing_written(existing, settings):
    settings.OUTBOX_MAX_BODY_BYTES = 4096
    before = outbox_state()
    with pytest.raises(MessageTooLarge):
        outbox.send_task("tests.testapp.tasks.record", args=["x" * 5000])
    assert outbox_state() == before
