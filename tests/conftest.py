"""Shared fixtures. Integration tests run against the real PostgreSQL and RabbitMQ named by
DATABASE_URL and BROKER_URL (``make test`` sets both)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.test import override_settings

from tests.broker import BoundQueue


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (OUTBOX_FORBID_SKIPS=1) a skipped test fails the run: integration tests must really run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("OUTBOX_FORBID_SKIPS") == "1" and skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped; CI requires every test to run", red=True)


@pytest.fixture
def broker_url() -> str:
    return str(settings.OUTBOX_BROKER_URL)


@pytest.fixture
def exchange(broker_url: str) -> Iterator[str]:
    """A fresh exchange for this test, set as OUTBOX_EXCHANGE, so tests never see each other's messages."""
    name = f"test-events-{uuid.uuid4().hex[:10]}"
    with override_settings(OUTBOX_EXCHANGE=name):
        yield name
    if broker_url.startswith("amqp"):
        from kombu import Connection

        with Connection(broker_url) as conn:
            conn.default_channel.exchange_delete(name)


@pytest.fixture
def bound_queue(broker_url: str, exchange: str) -> Iterator[Callable[..., BoundQueue]]:
    """Factory: ``bound_queue(pattern="#")`` binds a new queue to the test's exchange."""
    queues: list[BoundQueue] = []

    def make(pattern: str = "#") -> BoundQueue:
        queue = BoundQueue(broker_url, exchange, pattern)
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.close()
