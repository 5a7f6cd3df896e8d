"""The same message delivered many times, to two workers at once: its effect happens once. The second worker's
insert of the inbox row waits for the first worker's transaction, then finds the row and skips."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from tests.integration.consuming import declare_inbox_queues
from tests.raw_amqp import publish_json, queue_state
from tests.testapp.models import Effect
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def lock_waiters() -> int:
    """Sessions of this database blocked on a lock (a worker's INSERT waiting for another's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")
        return int(cursor.fetchone()[0])


class Worker(threading.Thread):
    """An InboxConsumer in its own thread (own database connection, closed at the end)."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.consumer = InboxConsumer()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.consumer.run(once=True, idle_timeout=1.5)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            self.error = exc
        finally:
            connections.close_all()


def test_same_message_10_times__two_workers_concurrently__applied_once(handlers, inbox_queue, broker_url, exchange):
    applied: list[str] = []
    release = threading.Event()

    @handlers("orders.*", name="record-orders")
    def record(message):
        applied.append(threading.current_thread().name)
        Effect.objects.create(handler="record-orders", message_id=message.id, value=message.payload)
        # Hold this transaction open until the other worker's insert of the same row is seen waiting on it.
        assert release.wait(10), "the other worker never waited on this transaction"

    declare_inbox_queues()
    workers = [Worker("worker-1"), Worker("worker-2")]
    for worker in workers:
        worker.start()
    wait_until(lambda: queue_state(broker_url, inbox_queue)[1] == 2, what="both workers consuming")

    message_id = publish_json(broker_url, exchange, "orders.placed", {"order": 1}, count=10)
    wait_until(lambda: lock_waiters() >= 1, timeout=10, what="a worker waiting for the other's transaction")
    release.set()
    for worker in workers:
        worker.join(timeout=20)

    assert [worker.error for worker in workers] == [None, None]
    assert not any(worker.is_alive() for worker in workers)
    assert len(applied) == 1
    # RabbitMQ spread the ten deliveries over both workers; all but one were duplicates.
    per_worker = [worker.consumer.stats.outcomes for worker in workers]
    assert all(sum(outcomes.values()) > 0 for outcomes in per_worker), per_worker
    assert sum((Counter(outcomes) for outcomes in per_worker), Counter()) == {"applied": 1, "duplicate": 9}
    assert list(Effect.objects.values_list("message_id", flat=True)) == [message_id]
    row = InboxMessage.objects.get()
    assert row.message_id == message_id and row.status == Status.DONE and row.attempts == 1
    assert queue_state(broker_url, inbox_queue) == (0, 0)
