"""Per-key order survives failed publishes, back-off and two competing relays."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict

import pytest
from django.db import close_old_connections
from django.test import override_settings

import outbox
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from outbox.transports.amqp import AmqpTransport
from tests.flaky import FlakyTransport

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KEYS = 20
PER_KEY = 30


@override_settings(OUTBOX_BACKOFF_BASE=0.001, OUTBOX_BACKOFF_CAP=0.002, OUTBOX_MAX_ATTEMPTS=1000)
def test_relays__two_relays_and_20_percent_failures__each_key_arrives_in_sequence_once(bound_queue, broker_url):
    queue = bound_queue()
    outbox.publish_many(outbox.OutgoingMessage("ordered.event", {"key": k, "n": n}, key=f"key-{k}")
                        for n in range(1, PER_KEY + 1) for k in range(KEYS))
    transports = [FlakyTransport(AmqpTransport(broker_url), failure_rate=0.2, seed=seed) for seed in (1, 2)]
    errors: list[BaseException] = []

    def run(transport: FlakyTransport) -> None:
        relay = Relay(transport, batch_size=50)
        try:
            while OutboxMessage.objects.pending().exists():
                relay.drain()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            relay.close()
            close_old_connections()

    threads = [threading.Thread(target=run, args=(t,)) for t in transports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=50)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert all(t.injected > 0 for t in transports)  # both relays really saw failures
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}

    received = queue.take(KEYS * PER_KEY, timeout=20)
    assert queue.settle(0.3) == received
    assert max(Counter(r.message_id for r in received).values()) == 1
    sequences: dict[str, list[int]] = defaultdict(list)
    for message in received:
        sequences[message.headers["key"]].append(message.headers["sequence"])
        assert json.loads(message.body)["n"] == message.headers["sequence"]
    assert sequences == {f"key-{k}": list(range(1, PER_KEY + 1)) for k in range(KEYS)}
