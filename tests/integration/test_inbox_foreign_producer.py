"""A message from a producer that is not this library (pika, in another process): only a message_id and a JSON
body; consumed and applied once even when published twice."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from kombu import Connection

from inbox.models import InboxMessage, Status
from tests.integration.consuming import consume, declare_inbox_queues
from tests.raw_amqp import queue_state
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


def pika_url(broker_url: str) -> str:
    """The broker URL as pika reads it (the vhost percent-encoded: "/" is "%2F")."""
    conn = Connection(broker_url)
    return (f"amqp://{quote(conn.userid, safe='')}:{quote(conn.password, safe='')}@{conn.hostname}:{conn.port}/"
            f"{quote(conn.virtual_host, safe='')}")


def publish_with_pika(broker_url: str, exchange: str, topic: str, message_id: str, body: str, *, count: int,
                      content_type: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.pika_publish", pika_url(broker_url), exchange, topic, message_id,
         body, "--count", str(count), "--content-type", content_type],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def test_pika_producer_in_other_process__each_message_published_twice__applied_once(handlers, inbox_queue, broker_url,
                                                                                    exchange):
    @handlers("hotel.booked", name="record-bookings")
    def record(message):
        Effect.objects.create(handler="record-bookings", message_id=message.id, value=message.payload)

    declare_inbox_queues()
    sent = {}
    for content_type in ("application/json", ""):  # a JSON content type, and none at all
        message_id = f"pika-{uuid.uuid4()}"
        sent[message_id] = {"booking": 17, "guest": "Zoë", "nights": [1, 2], "content_type": content_type}
        publish_with_pika(broker_url, exchange, "hotel.booked", message_id, json.dumps(sent[message_id]), count=2,
                          content_type=content_type)

    stats = consume()

    assert stats.outcomes == {"applied": 2, "duplicate": 2}
    assert dict(Effect.objects.values_list("message_id", "value")) == sent
    rows = InboxMessage.objects.all()
    assert {(row.handler, row.message_id, row.topic, row.status) for row in rows} == {
        ("record-bookings", message_id, "hotel.booked", Status.DONE) for message_id in sent}
    assert {row.correlation_id for row in rows} == set(sent)  # none sent: each conversation starts here
    assert queue_state(broker_url, inbox_queue) == (0, 0)
