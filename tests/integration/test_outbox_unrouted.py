"""Nothing published is lost and nothing unroutable blocks a key: a message no binding matches (an event
published before its first subscriber exists, a fault nobody listens for) is kept in the exchange's unrouted
queue, confirmed and recorded sent, counted by messaging_status and the metrics; the key's next messages go on."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

import outbox
from outbox import status, topology
from outbox.metrics import StatusCollector
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from tests.broker import take_unrouted

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_relay__no_subscriber_yet__kept_in_unrouted_queue_recorded_sent_key_not_blocked(
        bound_queue, broker_url, exchange):
    queue = bound_queue("orders.*")
    with transaction.atomic():
        early = outbox.publish("invoices.issued", {"invoice": 1}, key="customer-7")
        later = outbox.publish("orders.placed", {"order": 2}, key="customer-7")

    result = Relay().drain()

    assert (result.sent, result.retried, result.dead) == (2, 0, 0)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    assert [r.message_id for r in queue.take(1)] == [str(later.id)]
    assert status.unrouted_messages() == 1
    out = io.StringIO()
    call_command("messaging_status", stdout=out)
    assert f"unrouted: 1 message(s) kept in queue '{exchange}.unrouted'" in out.getvalue()
    assert json.loads(call_json())["unrouted"] == 1
    [gauge] = [m for m in StatusCollector().collect() if m.name == "outbox_unrouted_messages"]
    assert gauge.samples[0].value == 1.0
    assert take_unrouted(broker_url, exchange) == [str(early.id)]


def test_relay__exchange_declared_before_without_alternate__clear_configuration_error(broker_url, exchange):
    from kombu import Connection

    with Connection(broker_url) as connection:
        connection.default_channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    outbox.publish("orders.placed", {"order": 1})

    with pytest.raises(CommandError, match=f"exchange '{exchange}' exists without the alternate exchange"):
        call_command("outbox_relay", "--once", stdout=io.StringIO())

    assert OutboxMessage.objects.get().attempts == 0  # nothing charged: the message waits for the operator


def test_status__unrouted_off__no_unrouted_count(settings, exchange):
    settings.OUTBOX_UNROUTED = False
    assert status.unrouted_messages() is None
    assert topology.exchange_arguments(exchange) == {}
    assert json.loads(call_json())["unrouted"] is None


def call_json() -> str:
    out = io.StringIO()
    call_command("messaging_status", "--json", stdout=out)
    return out.getvalue()
