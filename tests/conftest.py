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
        from tests.broker import delete_exchange

        delete_exchange(broker_url, name)


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


@pytest.fixture
def inbox_queue(broker_url: str, exchange: str) -> Iterator[str]:
    """A fresh INBOX_QUEUE (and its .ordered twin) for this test, deleted afterwards."""
    name = f"test-inbox-{uuid.uuid4().hex[:10]}"
    with override_settings(INBOX_QUEUE=name):
        yield name
    if broker_url.startswith("amqp"):
        from kombu import Connection

        with Connection(broker_url) as conn:
            for queue in (name, f"{name}.ordered"):
                conn.default_channel.queue_delete(queue)


@pytest.fixture
def handlers() -> Iterator[Callable[..., Callable[..., object]]]:
    """Factory: ``handlers("topic", name=..., **options)(func)`` registers a handler for this test only."""
    from inbox.registry import handler, registry

    names: list[str] = []

    def register(*topics: str, **options: object) -> Callable[..., object]:
        options.setdefault("name", f"test-{uuid.uuid4().hex[:8]}")
        names.append(str(options["name"]))
        return handler(*topics, **options)  # type: ignore[arg-type]

    saved = {spec.name: spec for spec in registry.all()}
    for name in saved:
        registry.unregister(name)
    yield register
    for name in names:
        registry.unregister(name)
    for spec in saved.values():
        registry.register(spec)
