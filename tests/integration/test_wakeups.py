"""What wakes the relay: PostgreSQL NOTIFY on commit, the Celery task on commit, and the command run by hand."""

from __future__ import annotations

import io
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test import override_settings

import outbox
from demo_project import celery_app
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from outbox.relay.listener import PgNotifyWaiter
from outbox.relay.worker import RelayWorker
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def notify_channel() -> Iterator[str]:
    """A channel of this test's own, so that no other listener or notifier interferes."""
    name = f"outbox_test_{uuid.uuid4().hex[:10]}"
    with override_settings(OUTBOX_NOTIFY_CHANNEL=name):
        yield name


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run Celery tasks in the calling thread, as a worker would run them, restoring the app's setting after."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous


def listening(channel: str) -> bool:
    """True once some session of this database has run LISTEN on ``channel``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
                       [f'LISTEN "{channel}"'])
        return bool(cursor.fetchone()[0])


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_listening_worker(channel: str, stop: threading.Event) -> threading.Thread:
    """A RelayWorker with a LISTEN waiter and a 30 s poll interval, running in its own thread until ``stop``."""
    worker = RelayWorker(Relay(), PgNotifyWaiter("default", channel, stop), stop, interval=30.0)

    def run() -> None:
        try:
            worker.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_worker__commit_notifies__relayed_within_seconds_not_the_poll_interval(bound_queue, notify_channel):
    queue = bound_queue()
    stop = threading.Event()
    thread = start_listening_worker(notify_channel, stop)
    try:
        wait_until(lambda: listening(notify_channel), what="the worker's LISTEN")
        with transaction.atomic():
            message = outbox.publish("orders.placed", {"order": 1})
        committed = time.monotonic()
        received = queue.take(1, timeout=5)
        latency = time.monotonic() - committed
    finally:
        stop.set()
        thread.join(timeout=5)
    assert [r.message_id for r in received] == [str(message.id)]
    assert latency < 5  # the poll interval is 30 s: only the NOTIFY can have woken the worker
    assert not thread.is_alive(), "the worker did not stop within 5 s of its stop event"


def test_worker__stop_set_while_waiting__stops_without_waiting_out_the_interval(notify_channel, exchange):
    stop = threading.Event()
    thread = start_listening_worker(notify_channel, stop)
    wait_until(lambda: listening(notify_channel), what="the worker's LISTEN")
    stopped = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - stopped < 2


@override_settings(OUTBOX_CELERY_ON_COMMIT=True, OUTBOX_NOTIFY_THROTTLE=0.0)
def test_celery_on_commit__committed__at_the_broker_when_the_block_exits(bound_queue, eager_celery):
    queue = bound_queue()
    with transaction.atomic():
        message = outbox.publish("orders.placed", {"order": 1})
        assert OutboxMessage.objects.get(pk=message.pk).status == Status.PENDING
    # No relay call here: the task scheduled by the commit ran (eagerly) as the block exited.
    assert OutboxMessage.objects.get(pk=message.pk).status == Status.SENT
    assert [r.message_id for r in queue.take(1)] == [str(message.id)]


@override_settings(OUTBOX_NOTIFY_THROTTLE=0.0)
def test_celery_on_commit__rolled_back__triggers_nothing(bound_queue, eager_celery):
    queue = bound_queue()
    waiting = outbox.publish("orders.placed", {"order": 1})  # committed while the trigger is off: a task would send it
    with override_settings(OUTBOX_CELERY_ON_COMMIT=True), pytest.raises(RuntimeError), transaction.atomic():
        outbox.publish("orders.placed", {"order": 2})
        raise RuntimeError("domain failure")
    assert list(OutboxMessage.objects.values_list("id", "status")) == [(waiting.id, Status.PENDING)]
    assert queue.settle(0.3) == []


def test_outbox_relay_once__drains_and_prints_counts(bound_queue):
    queue = bound_queue("orders.*")
    messages = [outbox.publish("orders.placed", {"order": n}) for n in range(3)]
    outbox.publish("nobody.listens", {"order": 9})  # kept in the unrouted queue: sent too
    out = io.StringIO()
    with override_settings(OUTBOX_BACKOFF_BASE=60.0):
        call_command("outbox_relay", "--once", stdout=out)
    assert out.getvalue().strip() == "sent 4, retrying 0, dead 0, expired 0, released 0"
    assert sorted(r.message_id for r in queue.take(3)) == sorted(str(m.id) for m in messages)
    assert OutboxMessage.objects.pending().count() == 0


def test_outbox_relay_once__broker_unreachable__command_error_and_messages_pending_unspent(exchange):
    messages = [outbox.publish("orders.placed", {"order": n}) for n in range(3)]
    with override_settings(OUTBOX_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{closed_port()}//"), \
            pytest.raises(CommandError, match="broker unavailable"):
        call_command("outbox_relay", "--once", stdout=io.StringIO())
    rows = OutboxMessage.objects.order_by("created_at")
    assert [(r.id, r.status, r.attempts, r.lease_until) for r in rows] == [
        (m.id, Status.PENDING, 0, None) for m in messages]


class StreamingRelay(Relay):
    """A relay during whose first two drains another transaction commits a message, as under a steady stream."""

    def __init__(self) -> None:
        super().__init__()
        self.drains = 0

    def drain(self, max_batches=None):
        result = super().drain(max_batches)
        self.drains += 1
        if self.drains <= 2:
            outbox.publish("stream.event", {"after_drain": self.drains})
        return result


@pytest.mark.parametrize(("follow", "sent", "pending"), [(True, 3, 0), (False, 1, 1)])
def test_relay_worker__stream_of_commits__followed_after_a_wakeup_but_not_when_polling(bound_queue, follow, sent,
                                                                                     pending):
    bound_queue("stream.*")
    outbox.publish("stream.event", {"first": True})
    stop = threading.Event()
    worker = RelayWorker(StreamingRelay(), PgNotifyWaiter("default", "unused", stop), stop, follow=follow)
    assert worker._drain().sent == sent
    assert OutboxMessage.objects.filter(status=Status.PENDING).count() == pending


def test_relay_worker__following__stops_when_asked_even_under_a_stream(bound_queue):
    bound_queue("stream.*")
    outbox.publish("stream.event", {"first": True})
    stop = threading.Event()
    relay = StreamingRelay()
    worker = RelayWorker(relay, PgNotifyWaiter("default", "unused", stop), stop, follow=True)
    stop.set()
    assert worker._drain().sent == 1
    assert relay.drains == 1


class SignalAfter(io.StringIO):
    """The command's stdout: once a line containing ``text`` is written, sends this process SIGTERM, as an
    operator stopping the relay would (the command has installed its handler before it writes anything)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def write(self, s: str) -> int:
        written = super().write(s)
        if self.text in s:
            os.kill(os.getpid(), signal.SIGTERM)
        return written


@pytest.fixture
def restored_signals() -> Iterator[None]:
    """The command installs SIGTERM/SIGINT handlers for the process; put pytest's back afterwards."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def test_outbox_relay__no_database_option__runs_sends_and_stops_on_sigterm(bound_queue, restored_signals):
    queue = bound_queue("orders.*")
    message = outbox.publish("orders.placed", {"order": 1})
    out = SignalAfter("sent 1,")
    call_command("outbox_relay", "--verbosity", "2", stdout=out)  # as `manage.py outbox_relay -v 2` runs it
    assert "outbox relay running" in out.getvalue()
    assert [r.message_id for r in queue.take(1)] == [str(message.id)]
    assert OutboxMessage.objects.pending().count() == 0
