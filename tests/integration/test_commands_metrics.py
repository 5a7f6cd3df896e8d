"""Prometheus metrics: counters after a real publish, relay and consume; gauges read from the database on
scrape; the ``/metrics/`` view and the ``--metrics-port`` of the relay and consumer commands."""

from __future__ import annotations

import io
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from prometheus_client import REGISTRY

import outbox
from inbox.consumer import InboxConsumer
from inbox.processing import Processor
from outbox import metrics
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from tests.admin_support import staff
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "integration-metrics-token-0123456789"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def topic() -> str:
    """A topic of this test's own, so counters of other tests never add up in its samples."""
    return f"metrics.t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Records the metrics servers the commands start (the real ones), and shuts them down afterwards."""
    started: list[Any] = []
    real = metrics.serve

    def serve(port: int, addr: str = "127.0.0.1") -> Any:
        server, thread = real(port, addr)
        started.append(server)
        return server, thread

    monkeypatch.setattr(metrics, "serve", serve)
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def test_metrics_view__after_publish_and_relay__counters_and_gauges(client, bound_queue, topic, settings):
    settings.OUTBOX_METRICS_TOKEN = TOKEN
    queue = bound_queue()
    with transaction.atomic():
        outbox.publish(topic, {"n": 1})
        outbox.publish(topic, {"n": 2})
    outbox.publish(f"{topic}.later", {"n": 3}, delay=3600)
    Relay().drain()
    assert len(queue.take(2)) == 2
    response = client.get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert f'outbox_published_total{{topic="{topic}"}} 2.0' in text
    assert f'outbox_relayed_total{{topic="{topic}"}} 2.0' in text
    assert "outbox_pending_messages 1.0" in text
    assert "outbox_oldest_pending_age_seconds" in text and "outbox_dead_messages 0.0" in text
    assert "inbox_waiting_messages 0.0" in text and "outbox_stuck_messages 0.0" in text


def test_metrics_view__anonymous__refused_without_metrics(client, settings):
    settings.OUTBOX_METRICS_TOKEN = None
    response = client.get("/metrics/")
    assert response.status_code == 403
    assert b"outbox_" not in response.content
    settings.OUTBOX_METRICS_TOKEN = TOKEN
    response = client.get("/metrics/", HTTP_AUTHORIZATION="Bearer wrong-token-of-some-length")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"outbox_" not in response.content


def test_metrics_view__logged_in_staff_user__served(client, settings):
    settings.OUTBOX_METRICS_TOKEN = None
    client.force_login(staff())
    response = client.get("/metrics/")
    assert response.status_code == 200
    assert "outbox_pending_messages" in response.content.decode()


def test_published__rolled_back__not_counted(topic):
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.publish(topic, {"n": 1})
        raise RuntimeError("domain failure")
    assert sample("outbox_published_total", topic=topic) == 0.0


def test_relay__dead_and_expired__counted_by_topic(exchange, topic, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    settings.OUTBOX_UNROUTED = False  # no alternate exchange: an unroutable message is returned
    outbox.publish(topic, {"n": 1})  # nothing is bound: unroutable, dead at its first and last attempt
    outbox.publish(topic, {"n": 2}, expires_in=0)
    Relay().drain()
    assert sample("outbox_dead_total", topic=topic) == 1.0
    assert sample("outbox_expired_total", topic=topic) == 1.0
    assert OutboxMessage.objects.filter(status=Status.DEAD).count() == 1


def test_inbox__applied_retried_and_dead__counted_by_handler(handlers, inbox_queue, topic, settings):
    settings.INBOX_IMMEDIATE_RETRIES = 0
    settings.INBOX_DELAYED_RETRIES = 1
    name = f"metrics-{uuid.uuid4().hex[:8]}"

    @handlers(f"{topic}.#", name=name)
    def handle(message: Any) -> None:
        if message.payload.get("fail"):
            raise ValueError("cannot")

    consumer = InboxConsumer()
    consumer.run(once=True, idle_timeout=0.2)  # declares and binds the queue
    outbox.publish(f"{topic}.ok", {"fail": False})
    outbox.publish(f"{topic}.bad", {"fail": True})
    Relay().drain()
    consumer.run(once=True, idle_timeout=0.5)
    assert sample("inbox_applied_total", handler=name) == 1.0
    assert sample("inbox_retried_total", handler=name) == 1.0
    processor = Processor()  # the one delayed retry fails too: dead (the consumer may have run it already)
    wait_until(lambda: processor.retry_due() >= 0 and sample("inbox_dead_total", handler=name) == 1.0,
               what="the delayed retry to go dead")


def test_outbox_relay__metrics_port__serves_counters_and_database_gauges(servers, bound_queue, topic):
    bound_queue()
    outbox.publish(topic, {"n": 1})
    port = free_port()
    out = io.StringIO()
    call_command("outbox_relay", "--once", "--metrics-port", str(port), stdout=out)
    assert f"metrics on http://127.0.0.1:{port}/metrics" in out.getvalue()
    [server] = servers
    assert server.server_address[0] == "127.0.0.1"  # this machine only, unless --metrics-host says otherwise
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert f'outbox_relayed_total{{topic="{topic}"}} 1.0' in text
    assert "outbox_pending_messages 0.0" in text


def test_inbox_consume__metrics_port__serves_metrics(servers, handlers, inbox_queue):
    handlers("metrics.none")(lambda message: None)
    port = free_port()
    call_command("inbox_consume", "--once", "--idle-timeout", "0.1", "--metrics-port", str(port),
                 stdout=io.StringIO())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert "inbox_waiting_messages" in response.read().decode()


def test_metrics_host__another_address__served_there_only(servers, handlers, inbox_queue):
    handlers("metrics.none")(lambda message: None)
    port = free_port()
    out = io.StringIO()
    call_command("inbox_consume", "--once", "--idle-timeout", "0.1", "--metrics-port", str(port),
                 "--metrics-host", "127.0.0.2", stdout=out)
    assert f"metrics on http://127.0.0.2:{port}/metrics" in out.getvalue()
    with urllib.request.urlopen(f"http://127.0.0.2:{port}/metrics", timeout=5) as response:
        assert "inbox_waiting_messages" in response.read().decode()
    with pytest.raises(OSError):  # noqa: PT011 - refused: nothing listens on 127.0.0.1
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_metrics_port__taken__command_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # the address the metrics server binds by default
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot serve metrics on 127.0.0.1 port {port}"):
            call_command("outbox_relay", "--once", "--metrics-port", str(port), stdout=io.StringIO())
