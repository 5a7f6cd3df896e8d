"""Hostile messages RabbitMQ routes but nothing can read or handle: each is recorded dead with its reason and
acknowledged, the worker neither exits nor loops on it, and the good message published after it is applied.

Content headers that py-amqp cannot decode (a message id or content type that is not UTF-8, a timestamp header
past year 9999, header tables nested deeper than Python's recursion limit) are published as raw bytes."""

from __future__ import annotations

import json

import pytest

import inbox
import outbox.exceptions
from inbox import processing
from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from outbox.models import OutboxMessage
from tests.integration.consuming import consume, declare_inbox_queues, retry_until
from tests.raw_amqp import (
    basic_properties,
    bind,
    nested_table,
    publish_json,
    publish_raw,
    publish_raw_properties,
    queue_state,
    table,
    timestamp_entry,
)
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JSON = b"application/json"
FAR_FUTURE = "9999-12-31T23:59:59-01:00"  # year 10000 in UTC: adding a ttl to it overflows
#: Routing keys RabbitMQ routes that are not outbox topics: "<key>.fault" cannot be published.
NOT_TOPICS = {"space": "orders placed", "colon": "orders:placed", "slash": "orders/placed",
              "accented": "commandes.passée", "long": "o" * 250}


def record(message):
    Effect.objects.create(handler="record", message_id=message.id, value=message.payload)


def refuse(message):
    raise inbox.BusinessError(f"order {message.payload.get('order')} refused")


def fail_then_refuse(message):
    """A technical failure first (a delayed retry follows), then a business error on the retry."""
    if message.attempt == 1:
        raise ValueError("not yet")
    refuse(message)


def first_attempt_then_dead(message_id: str) -> None:
    """Consume (the first attempt fails), then run delayed retries until the message is dead."""
    consumer = InboxConsumer()
    assert consume(consumer=consumer).outcomes == {"retrying": 1}
    retry_until(consumer.processor, lambda: InboxMessage.objects.get(message_id=message_id).status == Status.DEAD,
                what="the retried message dead")


UNDECODABLE = {
    "message-id-not-utf8": (basic_properties(content_type=JSON, message_id=b"id-\xff\xfe"), "id-\\xff\\xfe",
                            "UnicodeDecodeError"),
    "content-type-not-utf8": (basic_properties(content_type=b"application/\xffjson", message_id=b"ct-bad"),
                              "ct-bad", "UnicodeDecodeError"),
    "timestamp-2**64-1": (basic_properties(content_type=JSON, headers=table(timestamp_entry(b"when", 2**64 - 1)),
                                           message_id=b"ts-max"), "ts-max", "header"),
    "nested-1000": (basic_properties(content_type=JSON, headers=nested_table(1000), message_id=b"deep-1000"),
                    "deep-1000", "RecursionError"),
}


@pytest.mark.parametrize("case", sorted(UNDECODABLE))
def test_undecodable_content_header__recorded_dead_and_acked__next_message_applied(
        handlers, inbox_queue, broker_url, exchange, case):
    properties, recorded_id, reason = UNDECODABLE[case]
    handlers("orders.*", name="record")(record)
    declare_inbox_queues()
    publish_raw_properties(broker_url, exchange, "orders.placed", b'{"order": 1}', properties)
    good_id = publish_json(broker_url, exchange, "orders.placed", {"order": 2})

    stats = consume()

    assert stats.outcomes == {"rejected": 1, "applied": 1}
    dead = InboxMessage.objects.get(handler="")
    assert (dead.message_id, dead.status, dead.topic) == (recorded_id, Status.DEAD, "orders.placed")
    assert dead.error_message.startswith("content header cannot be decoded") and reason in dead.error_message
    assert dead.raw_body == '{"order": 1}'
    assert list(Effect.objects.values_list("message_id", flat=True)) == [good_id]
    assert queue_state(broker_url, inbox_queue) == (0, 0)


@pytest.mark.parametrize(("routing_key", "recorded_topic"), [
    (b"orders.\xff", "orders.\\xff"),
    (b"orders." + b"\xfe" * 248, "orders." + "\\xfe" * 62),  # escaped, cut to the column's 255 characters
])
def test_routing_key_not_utf8__recorded_dead_and_acked__next_message_applied(
        handlers, inbox_queue, broker_url, exchange, routing_key, recorded_topic):
    handlers("orders.*", name="record")(record)
    declare_inbox_queues()
    publish_raw(broker_url, exchange, routing_key, b'{"order": 1}', message_id="rk-bad",
                content_type="application/json")
    good_id = publish_json(broker_url, exchange, "orders.placed", {"order": 2})

    stats = consume()

    assert stats.outcomes == {"rejected": 1, "applied": 1}
    dead = InboxMessage.objects.get(message_id="rk-bad")
    assert (dead.handler, dead.status, dead.topic) == ("", Status.DEAD, recorded_topic[:255])
    assert dead.error_message.startswith("routing key is not UTF-8: UnicodeDecodeError")
    assert dead.raw_body == '{"order": 1}'
    assert list(Effect.objects.values_list("message_id", flat=True)) == [good_id]
    assert queue_state(broker_url, inbox_queue) == (0, 0)


def test_headers_nested_600_deep__recorded_dead_and_acked__next_message_applied(
        handlers, inbox_queue, broker_url, exchange):
    handlers("orders.*", name="record")(record)
    declare_inbox_queues()
    properties = basic_properties(content_type=JSON, headers=nested_table(600), message_id=b"deep-600")
    publish_raw_properties(broker_url, exchange, "orders.placed", b'{"order": 1}', properties)
    good_id = publish_json(broker_url, exchange, "orders.placed", {"order": 2})

    stats = consume()

    assert stats.outcomes == {"rejected": 1, "applied": 1}
    dead = InboxMessage.objects.get(message_id="deep-600")
    assert dead.status == Status.DEAD and "nested deeper than 100" in dead.error_message
    assert list(Effect.objects.values_list("message_id", flat=True)) == [good_id]
    assert queue_state(broker_url, inbox_queue) == (0, 0)


def test_sent_time_far_in_the_future__handler_with_ttl__applied(handlers, inbox_queue, broker_url, exchange):
    handlers("orders.*", name="record", ttl=60)(record)
    declare_inbox_queues()
    future = publish_json(broker_url, exchange, "orders.placed", {"order": 1},
                          application_headers={"cloudEvents:time": FAR_FUTURE})
    good_id = publish_json(broker_url, exchange, "orders.placed", {"order": 2})

    stats = consume()

    assert stats.outcomes == {"applied": 2}
    assert set(Effect.objects.values_list("message_id", flat=True)) == {future, good_id}
    assert queue_state(broker_url, inbox_queue) == (0, 0)


@pytest.mark.parametrize("case", sorted(NOT_TOPICS))
def test_business_error__routing_key_not_an_outbox_topic__fault_to_handler_fault_topic(
        handlers, inbox_queue, broker_url, exchange, case):
    topic = NOT_TOPICS[case]
    handlers("#", name="refuse all")(refuse)
    declare_inbox_queues()
    bad_id = publish_json(broker_url, exchange, topic, {"order": 1})
    publish_json(broker_url, exchange, "orders.placed", {"order": 2})

    stats = consume()

    assert stats.outcomes == {"faulted": 2}
    assert InboxMessage.objects.get(message_id=bad_id).status == Status.DEAD
    fault = OutboxMessage.objects.get(topic="refuse_all.fault")
    assert json.loads(json.dumps(fault.payload))["topic"] == topic
    assert OutboxMessage.objects.filter(topic="orders.placed.fault").count() == 1
    assert queue_state(broker_url, inbox_queue) == (0, 0)


def test_business_error__routing_key_not_a_topic__handler_fault_topic_option_used(
        handlers, inbox_queue, broker_url, exchange):
    handlers("#", name="refuse", fault_topic="orders.refused")(refuse)
    declare_inbox_queues()
    publish_json(broker_url, exchange, "orders placed", {"order": 1})

    assert consume().outcomes == {"faulted": 1}
    assert OutboxMessage.objects.get().topic == "orders.refused"


def test_business_error_on_delayed_retry__routing_key_not_a_topic__dead_with_fault(
        handlers, inbox_queue, broker_url, exchange):
    handlers("#", name="refuse", immediate_retries=0, breaker=False)(fail_then_refuse)
    declare_inbox_queues()
    bad_id = publish_json(broker_url, exchange, "orders:placed", {"order": 1})

    first_attempt_then_dead(bad_id)

    assert OutboxMessage.objects.get().topic == "refuse.fault"


def test_handler_side_step_raises__recorded_dead_with_traceback__acked__next_applied(
        handlers, inbox_queue, broker_url, exchange, monkeypatch):
    def broken_fault(*args, **kwargs):
        raise outbox.exceptions.InvalidTopic("fault building broke")

    monkeypatch.setattr(processing, "publish_fault", broken_fault)
    handlers("orders.refused", name="refuse")(refuse)
    handlers("orders.placed", name="record")(record)
    declare_inbox_queues()
    bad_id = publish_json(broker_url, exchange, "orders.refused", {"order": 1})
    good_id = publish_json(broker_url, exchange, "orders.placed", {"order": 2})

    stats = consume()

    assert stats.outcomes == {"dead": 1, "applied": 1}
    dead = InboxMessage.objects.get(message_id=bad_id)
    assert (dead.handler, dead.status, dead.error_type) == ("refuse", Status.DEAD, "outbox.exceptions.InvalidTopic")
    assert "broken_fault" in dead.traceback and dead.payload == {"order": 1}
    assert dead.history[-1]["event"] == "crashed"
    assert list(Effect.objects.values_list("message_id", flat=True)) == [good_id]
    assert queue_state(broker_url, inbox_queue) == (0, 0)


def test_retry_side_step_raises__recorded_dead_with_traceback(handlers, inbox_queue, broker_url, exchange,
                                                              monkeypatch):
    handlers("orders.*", name="refuse", immediate_retries=0, breaker=False)(fail_then_refuse)
    declare_inbox_queues()

    def broken_fault(*args, **kwargs):
        raise RuntimeError("fault building broke")

    monkeypatch.setattr(processing, "publish_fault", broken_fault)  # reached at the second attempt only
    bad_id = publish_json(broker_url, exchange, "orders.placed", {"order": 1})

    first_attempt_then_dead(bad_id)

    dead = InboxMessage.objects.get(message_id=bad_id)
    assert dead.error_type == "builtins.RuntimeError" and "broken_fault" in dead.traceback
    assert [h["event"] for h in dead.history] == ["failed", "crashed"]


def test_unknown_topic__old_worker_parks_it__worker_with_the_handler_applies_it_once(
        handlers, inbox_queue, broker_url, exchange):
    handlers("orders.*", name="record")(record)
    declare_inbox_queues()
    bind(broker_url, inbox_queue, exchange, "invoices.sent")  # bound by the new version, not yet handled here
    parked_id = publish_json(broker_url, exchange, "invoices.sent", {"invoice": 9}, correlation_id="c-1",
                             application_headers={"key": "inv-9", "sequence": 3})
    old_worker = InboxConsumer()

    assert consume(consumer=old_worker).outcomes == {"parked": 1}
    parked = InboxMessage.objects.get()
    assert (parked.handler, parked.status, parked.topic) == ("", Status.WAITING, "invoices.sent")
    assert (parked.payload, parked.key, parked.sequence, parked.correlation_id) == ({"invoice": 9}, "inv-9", 3, "c-1")
    assert parked.available_at is not None and queue_state(broker_url, inbox_queue) == (0, 0)
    assert old_worker.processor.retry_due() == 0  # the old worker cannot apply it: it stays parked
    InboxMessage.objects.update(available_at=parked.received_at)  # as if the park interval had passed
    assert old_worker.processor.retry_due() == 0
    assert InboxMessage.objects.get().status == Status.WAITING

    def record_invoice(message):
        Effect.objects.create(handler="invoices", message_id=message.id, key=message.key, value=message.payload)

    handlers("invoices.*", name="invoices")(record_invoice)  # the new version's worker
    new_worker = InboxConsumer()
    InboxMessage.objects.update(available_at=parked.received_at)
    assert new_worker.processor.retry_due() == 1
    assert new_worker.processor.retry_due() == 0

    effect = Effect.objects.get()
    assert (effect.message_id, effect.key, effect.value) == (parked_id, "inv-9", {"invoice": 9})
    rows = {row.handler: row for row in InboxMessage.objects.all()}
    assert rows["invoices"].status == Status.DONE and rows["invoices"].correlation_id == "c-1"
    assert rows[""].status == Status.DONE and rows[""].history[-1]["event"] == "adopted"
    publish_json(broker_url, exchange, "invoices.sent", {"invoice": 9}, message_id=parked_id)  # redelivered
    assert consume(consumer=new_worker).outcomes == {"duplicate": 1}
    assert Effect.objects.count() == 1


def test_reading_the_message_crashes__recorded_dead_with_traceback__acked__next_applied(
        handlers, inbox_queue, broker_url, exchange, monkeypatch):
    from inbox import consumer as consumer_module

    real_decode = consumer_module.decode

    def decode_crashing_on_poison(delivery, max_bytes):
        if delivery.message_id == "poison":
            raise RuntimeError("decoder bug")
        return real_decode(delivery, max_bytes)

    monkeypatch.setattr(consumer_module, "decode", decode_crashing_on_poison)
    handlers("orders.*", name="record")(record)
    declare_inbox_queues()
    publish_json(broker_url, exchange, "orders.placed", {"order": 1}, message_id="poison")
    good_id = publish_json(broker_url, exchange, "orders.placed", {"order": 2})

    stats = consume()

    assert stats.outcomes == {"rejected": 1, "applied": 1}
    dead = InboxMessage.objects.get(message_id="poison")
    assert (dead.handler, dead.status) == ("", Status.DEAD)
    assert dead.error_message == "processing crashed: RuntimeError: decoder bug"
    assert "decode_crashing_on_poison" in dead.traceback and dead.raw_body == '{"order": 1}'
    assert list(Effect.objects.values_list("message_id", flat=True)) == [good_id]
    assert queue_state(broker_url, inbox_queue) == (0, 0)
