"""Nothing published is lost and nothing unroutable blocks a key: a message no binding matches (an event
published before its first subscriber exists, a fault nobody listens for) is kept in the exchange's unrouted
queue, confirmed and recorded sent, counted by messaging_status and the metrics; the key's next messages go on."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
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


def test_relay_and_consumer__exchange_declared_before_without_alternate__keep_working_and_log_the_fix(
        broker_url, exchange, inbox_queue, caplog):
    # An upgrade: the exchange exists from an older version, without the alternate exchange, and RabbitMQ refuses
    # to redeclare it with one. Halting the relay or the consumer there would stop production on upgrade: both go
    # on (unroutable messages are returned and retried, as before) and say, at ERROR, how to finish the upgrade.
    from kombu import Connection

    from inbox.consumer import InboxConsumer
    from inbox.registry import HandlerSpec, Registry
    from tests.testapp.models import Effect

    with Connection(broker_url) as connection:
        connection.default_channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
    handlers = Registry()
    handlers.register(HandlerSpec("legacy.record", lambda m: Effect.objects.create(handler="legacy", message_id=m.id),
                                  ("orders.placed",)))
    InboxConsumer(url=broker_url, handlers=handlers).run(once=True, idle_timeout=0.2)  # declares and binds
    routed = outbox.publish("orders.placed", {"order": 1})
    unroutable = outbox.publish("invoices.issued", {"invoice": 1})

    with caplog.at_level("ERROR"):
        call_command("outbox_relay", "--once", stdout=io.StringIO())
        InboxConsumer(url=broker_url, handlers=handlers).run(once=True, idle_timeout=0.2)

    assert OutboxMessage.objects.get(pk=routed.pk).status == Status.SENT
    assert OutboxMessage.objects.get(pk=unroutable.pk).status == Status.PENDING  # returned: retried, as before
    assert list(Effect.objects.values_list("message_id", flat=True)) == [str(routed.id)]
    hints = [r for r in caplog.records if getattr(r, "action", "") == "exchange_without_unrouted"]
    assert hints and f"exchange '{exchange}' exists without the alternate exchange" in hints[0].getMessage()


def test_status__unrouted_off__no_unrouted_count(settings, exchange):
    settings.OUTBOX_UNROUTED = False
    assert status.unrouted_messages() is None
    assert topology.exchange_arguments(exchange) == {}
    assert json.loads(call_json())["unrouted"] is None


def call_json() -> str:
    out = io.StringIO()
    call_command("messaging_status", "--json", stdout=out)
    return out.getvalue()
