"""A first end-to-end pass: outbox → relay → RabbitMQ → inbox consumer → handler, once."""

from __future__ import annotations

import pytest
from django.db import transaction

import outbox
from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from outbox.relay import Relay
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_published_message__consumed__applied_once(handlers, inbox_queue):
    @handlers("orders.*", name="record-order")
    def record(message):
        Effect.objects.create(handler="record-order", message_id=message.id, value=message.payload)

    consumer = InboxConsumer()
    consumer.run(once=True, idle_timeout=0.2)  # declares and binds the queue
    with transaction.atomic():
        sent = outbox.publish("orders.placed", {"order": 1})
    Relay().drain()
    stats = consumer.run(once=True, idle_timeout=0.5)
    assert stats.outcomes == {"applied": 1}
    assert list(Effect.objects.values_list("message_id", flat=True)) == [str(sent.id)]
    row = InboxMessage.objects.get()
    assert row.status == Status.DONE and row.attempts == 1
