"""A business error is not retried: the message is dead after one attempt, and a fault message tells the
producer, written through the outbox with the failure record and relayed to the broker. A message dead after
its retries sends one too (unless INBOX_FAULT_ON_DEAD is off); the fault's "kind" says which it was."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

import inbox
import outbox
from inbox.models import InboxMessage, Status
from outbox.models import OutboxMessage
from outbox.relay import Relay
from tests.integration.consuming import consume, declare_inbox_queues
from tests.raw_amqp import queue_state
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class HotelSoldOut(inbox.BusinessError):
    pass


def sold_out(message):
    Effect.objects.create(handler="book", message_id=message.id)  # rolled back with the failed attempt
    raise HotelSoldOut(f"hotel {message.payload['hotel']} is sold out")


def unknown_sku(message):
    raise KeyError(message.payload["hotel"])


def place_order() -> OutboxMessage:
    with transaction.atomic():
        sent = outbox.publish("hotel.booking.requested", {"hotel": 7}, correlation_id="checkout-42")
    assert Relay().drain().sent == 1
    return sent


@pytest.mark.parametrize(("func", "options", "error_type", "error_message"), [
    pytest.param(sold_out, {}, f"{__name__}.HotelSoldOut", "hotel 7 is sold out", id="business-error-subclass"),
    pytest.param(unknown_sku, {"business_errors": [LookupError]}, "builtins.KeyError", "7",
                 id="type-listed-in-business-errors"),
])
def test_business_error__dead_after_one_attempt__fault_relayed_to_broker(
        handlers, inbox_queue, broker_url, bound_queue, func, options, error_type, error_message):
    handlers("hotel.booking.*", name="book", **options)(func)
    faults = bound_queue("#.fault")
    declare_inbox_queues()
    original = place_order()

    stats = consume()

    assert stats.outcomes == {"faulted": 1}
    row = InboxMessage.objects.get()
    assert row.status == Status.DEAD and row.attempts == 1 and row.available_at is None
    assert (row.error_type, row.error_message) == (error_type, error_message)
    assert [h["event"] for h in row.history] == ["business_error"]
    assert not Effect.objects.exists()
    fault_row = OutboxMessage.objects.get(topic="hotel.booking.requested.fault")
    assert fault_row.causation_id == str(original.id) and fault_row.correlation_id == "checkout-42"

    assert Relay().drain().sent == 1
    [fault] = faults.take(1)
    assert faults.settle(0.2) == [fault]
    assert fault.routing_key == "hotel.booking.requested.fault"
    assert json.loads(fault.body) == {
        "message_id": str(original.id), "topic": "hotel.booking.requested", "payload": {"hotel": 7},
        "handler": "book", "kind": "business_error", "error_type": error_type, "error_message": error_message}
    assert fault.headers["causation_id"] == str(original.id)
    assert fault.properties["correlation_id"] == "checkout-42"
    assert queue_state(broker_url, inbox_queue) == (0, 0)


@pytest.mark.parametrize("switch", ["handler-option", "setting"])
def test_business_error__faults_off__dead_without_fault_message(handlers, inbox_queue, bound_queue, settings,
                                                                switch):
    if switch == "setting":
        settings.INBOX_FAULTS = False
        handlers("hotel.booking.*", name="book")(sold_out)
    else:
        handlers("hotel.booking.*", name="book", faults=False)(sold_out)
    faults = bound_queue("#.fault")
    declare_inbox_queues()
    original = place_order()

    stats = consume()

    assert stats.outcomes == {"faulted": 1}
    row = InboxMessage.objects.get()
    assert row.status == Status.DEAD and row.attempts == 1 and row.error_message == "hotel 7 is sold out"
    assert list(OutboxMessage.objects.values_list("id", flat=True)) == [original.id]
    assert Relay().drain().claimed == 0
    assert faults.settle(0.3) == []


def gateway_down(message):
    raise ConnectionError(f"payment gateway down for hotel {message.payload['hotel']}")


def test_retries_exhausted__dead__fault_relayed_with_its_kind(handlers, inbox_queue, bound_queue):
    handlers("hotel.booking.*", name="book", immediate_retries=1, delayed_retries=0)(gateway_down)
    faults = bound_queue("#.fault")
    declare_inbox_queues()
    original = place_order()

    assert consume().outcomes == {"dead": 1}

    row = InboxMessage.objects.get()
    assert row.status == Status.DEAD and row.attempts == 2
    fault_row = OutboxMessage.objects.get(topic="hotel.booking.requested.fault")
    assert fault_row.causation_id == str(original.id) and fault_row.correlation_id == "checkout-42"
    assert Relay().drain().sent == 1
    [fault] = faults.take(1)
    assert json.loads(fault.body) == {
        "message_id": str(original.id), "topic": "hotel.booking.requested", "payload": {"hotel": 7},
        "handler": "book", "kind": "retries_exhausted", "error_type": "builtins.ConnectionError",
        "error_message": "payment gateway down for hotel 7"}


@pytest.mark.parametrize("switch", ["fault-on-dead-setting", "faults-setting", "handler-option"])
def test_retries_exhausted__faults_off__dead_without_fault_message(handlers, inbox_queue, settings, switch):
    options: dict[str, object] = {"faults": False} if switch == "handler-option" else {}
    if switch == "fault-on-dead-setting":
        settings.INBOX_FAULT_ON_DEAD = False
    if switch == "faults-setting":
        settings.INBOX_FAULTS = False
    handlers("hotel.booking.*", name="book", immediate_retries=0, delayed_retries=0, **options)(gateway_down)
    declare_inbox_queues()
    original = place_order()

    assert consume().outcomes == {"dead": 1}

    assert list(OutboxMessage.objects.values_list("id", flat=True)) == [original.id]
