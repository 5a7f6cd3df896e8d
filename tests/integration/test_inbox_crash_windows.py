"""A consumer process killed in each crash window of the inbox: the effect happens exactly once.

- after the handler's transaction committed, before the ack: the broker redelivers, the redelivery finds the
  inbox row and is skipped;
- inside the handler, before the commit: nothing was recorded, the redelivery applies the message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from outbox.transports.base import Received
from tests.integration.consuming import consume, declare_inbox_queues
from tests.integration.crash_consumer import CRASH_EXIT_CODE, HANDLER, TOPIC, record
from tests.raw_amqp import publish_json, queue_state
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


class RedeliveryWatchingConsumer(InboxConsumer):
    """Notes the broker's ``redelivered`` flag of each message it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.redelivered: list[bool] = []

    def _on_delivery(self, received: Received) -> None:
        self.redelivered.append(received.redelivered)
        super()._on_delivery(received)


@pytest.fixture
def crash_consumer(test_database_url, broker_url, exchange, inbox_queue):
    """Runs the consumer process that dies in the given window; returns its completed process."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", DATABASE_URL=test_database_url,
               BROKER_URL=broker_url, TEST_OUTBOX_EXCHANGE=exchange, TEST_INBOX_QUEUE=inbox_queue)

    def run(window: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tests.integration.crash_consumer", window], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    return run


def test_consumer_killed_after_commit_before_ack__redelivery_skipped(handlers, inbox_queue, broker_url, exchange,
                                                                     crash_consumer):
    handlers(TOPIC, name=HANDLER)(record)
    declare_inbox_queues()
    message_id = publish_json(broker_url, exchange, "orders.placed", {"order": 1})

    crashed = crash_consumer("after-commit")

    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert list(Effect.objects.values_list("message_id", flat=True)) == [message_id]
    assert InboxMessage.objects.get().status == Status.DONE
    assert queue_state(broker_url, inbox_queue) == (1, 0)  # never acked: back in the queue
    consumer = RedeliveryWatchingConsumer()
    stats = consume(consumer=consumer)
    assert consumer.redelivered == [True]
    assert stats.outcomes == {"duplicate": 1}
    assert Effect.objects.count() == 1
    row = InboxMessage.objects.get()
    assert row.status == Status.DONE and row.attempts == 1
    assert queue_state(broker_url, inbox_queue) == (0, 0)


def test_consumer_killed_in_handler_before_commit__redelivery_applied_once(handlers, inbox_queue, broker_url,
                                                                           exchange, crash_consumer):
    handlers(TOPIC, name=HANDLER)(record)
    declare_inbox_queues()
    message_id = publish_json(broker_url, exchange, "orders.placed", {"order": 1})

    crashed = crash_consumer("in-handler")

    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert not Effect.objects.exists() and not InboxMessage.objects.exists()  # rolled back with the process
    assert queue_state(broker_url, inbox_queue) == (1, 0)
    consumer = RedeliveryWatchingConsumer()
    stats = consume(consumer=consumer)
    assert consumer.redelivered == [True]
    assert stats.outcomes == {"applied": 1}
    assert list(Effect.objects.values_list("message_id", flat=True)) == [message_id]
    row = InboxMessage.objects.get()
    assert row.status == Status.DONE and row.attempts == 1
    assert queue_state(broker_url, inbox_queue) == (0, 0)
