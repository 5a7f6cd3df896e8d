"""outbox.send_task: a rolled-back transaction sends no task; a committed one is run once by a real Celery worker,
even when its message is delivered twice (the idempotent task records its task id in the inbox)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction
from kombu import Connection

from inbox.models import InboxMessage, Status
from outbox.celery_dispatch import send_task
from outbox.models import OutboxMessage
from outbox.models import Status as OutboxStatus
from outbox.relay import Relay
from tests.raw_amqp import queue_state
from tests.testapp.models import Effect
from tests.testapp.tasks import RECORD_TASK
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")  # the celery of the environment running the tests


class Rollback(Exception):
    pass


class CeleryWorker:
    """A real ``celery worker`` process on one queue; its log lines are read as they come."""

    def __init__(self, queue_name: str, env: dict[str, str]) -> None:
        self.queue_name = queue_name
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(
            # Not --without-heartbeat: without the heartbeat timer the solo worker notices SIGTERM only
            # after a 10 s poll (measured), with it in about 2 s.
            [str(CELERY), "-A", "demo_project", "worker", "-Q", queue_name, "--pool", "solo", "-c", "1",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO", "-n", f"{queue_name}@%h"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        """Wait until ``count`` log lines matched ``pattern`` in total; returns them."""
        def matched() -> list[str]:
            return [line for line in self.seen if re.search(pattern, line)]

        def more() -> bool:
            while not self.lines.empty():
                self.seen.append(self.lines.get())
            return len(matched()) >= count or self.process.poll() is not None

        wait_until(more, timeout=timeout, interval=0.02, what=f"{count} worker log line(s) matching {pattern!r}")
        assert len(matched()) >= count, "".join(self.seen)
        return matched()

    def stop(self) -> None:
        self.process.terminate()  # warm shutdown
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def task_queue(broker_url) -> Iterator[str]:
    """A queue name of this test; the queue (and the direct exchange Celery declares for it) is deleted after."""
    name = f"test-tasks-{uuid.uuid4().hex[:10]}"
    yield name
    with Connection(broker_url) as connection:
        channel = connection.default_channel
        channel.queue_delete(name)
        channel.exchange_delete(name)


@pytest.fixture
def celery_worker(task_queue, test_database_url, broker_url) -> Iterator[CeleryWorker]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", DATABASE_URL=test_database_url,
               BROKER_URL=broker_url)
    worker = CeleryWorker(task_queue, env)
    try:
        worker.wait_for(r"\bready\.")
        yield worker
    finally:
        worker.stop()


def test_send_task__transaction_rolled_back__no_task_message_at_broker(broker_url, task_queue):
    with Connection(broker_url) as connection:
        connection.default_channel.queue_declare(queue=task_queue, durable=False, auto_delete=False)

    with pytest.raises(Rollback), transaction.atomic():
        send_task(RECORD_TASK, ["rolled-back"], queue=task_queue)
        raise Rollback

    assert not OutboxMessage.objects.exists()
    assert Relay().drain().claimed == 0
    assert queue_state(broker_url, task_queue) == (0, 0)
    with transaction.atomic():  # the same path with a commit does reach the queue
        send_task(RECORD_TASK, ["committed"], queue=task_queue)
    assert Relay().drain().sent == 1
    assert queue_state(broker_url, task_queue) == (1, 0)


def test_send_task__committed__delivered_twice__task_runs_once(celery_worker, broker_url, task_queue):
    with transaction.atomic():
        row = send_task(RECORD_TASK, ["booking-7"], queue=task_queue)
    task_id = str(row.id)

    assert Relay().drain().sent == 1
    OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxStatus.PENDING, sent_at=None)
    assert Relay().drain().sent == 1  # the same task message (same task id) once more

    succeeded = celery_worker.wait_for(rf"Task {re.escape(RECORD_TASK)}\[{task_id}\] succeeded", count=2)
    assert "'booking-7'" in succeeded[0] and succeeded[1].rstrip().endswith("None")  # the second run was skipped
    assert list(Effect.objects.values_list("message_id", flat=True)) == ["booking-7"]
    record = InboxMessage.objects.get()
    assert (record.handler, record.message_id, record.status) == (f"celery:{RECORD_TASK}", task_id, Status.DONE)
    assert queue_state(broker_url, task_queue)[0] == 0
