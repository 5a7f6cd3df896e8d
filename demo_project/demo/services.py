"""Who does the work while the scenarios wait: this process, or the separate services.

In-process (the default): each round drains the outbox with a :class:`~outbox.relay.Relay`, runs
the inbox consumer until its queues and due retries are empty (``run(once=True)``), and runs the
Celery task messages. ``--drive-only``: the relay, consumer and Celery processes started by
``scripts/run_services.sh`` do the work; a round only waits a little.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save

from demo_project.demo.celery_standin import CeleryStandIn
from demo_project.demo.labels import Labels
from demo_project.demo.timeline import EventBuffer
from demo_project.demo.watch import InboxWatch, Watcher, breaker_text
from inbox.conf import inbox_settings
from inbox.consumer import InboxConsumer
from inbox.decoding import decode
from inbox.models import InboxMessage
from inbox.processing import Outcome, Processor
from outbox.conf import outbox_settings
from outbox.exceptions import BrokerUnavailable
from outbox.ids import short
from outbox.relay import Relay
from outbox.wire import Delivery

IDLE_TIMEOUT = 0.01  # seconds the consumer listens for more before it counts the queue as empty
SAVED_UID = "demo-timeline-inbox-saves"


class ObservedConsumer(InboxConsumer):
    """The library's consumer, telling the timeline about the duplicates it drops (they leave no row)."""

    def __init__(self, buffer: EventBuffer, labels: Labels, processor: Processor) -> None:
        super().__init__(processor)
        self.buffer = buffer
        self.labels = labels
        self.duplicates: list[tuple[str, str]] = []  # (topic, handler)

    def handle(self, delivery: Delivery, ordered: bool = False) -> list[Outcome]:
        outcomes = super().handle(delivery, ordered)
        if Outcome.DUPLICATE in outcomes:
            message = decode(delivery, inbox_settings.MAX_BODY_BYTES)
            what = self.labels.describe(message.topic, message.id, message.key, message.correlation_id)
            specs = self.registry.for_topic(message.topic, ordered=ordered)
            for spec, outcome in zip(specs, outcomes, strict=True):
                if outcome is Outcome.DUPLICATE:
                    self.duplicates.append((message.topic, spec.name))
                    self.buffer.add("duplicate", spec.name, f"{what}: already applied, dropped (inbox row found)")
        return outcomes


class InProcessServices:
    """Relay, consumer and a Celery stand-in in this process.

    One consumer round can take a message through several states (failed, retry scheduled, retried,
    held by the breaker); every save of an inbox row is shown, once its transaction committed, so
    the timeline tells each step rather than only where the round ended.
    """

    def __init__(self, buffer: EventBuffer, labels: Labels, watcher: Watcher) -> None:
        self.buffer = buffer
        self.watcher = watcher
        self.relay = Relay()
        self.consumer = ObservedConsumer(buffer, labels, Processor())
        self.tasks = CeleryStandIn(str(outbox_settings.BROKER_URL), self._task_duplicate)
        self.task_duplicates: list[tuple[str, str]] = []
        post_save.connect(self._saved, sender=InboxMessage, dispatch_uid=SAVED_UID)
        self.consumer.run(once=True, idle_timeout=IDLE_TIMEOUT)  # declares the queues before anything is sent

    def _saved(self, sender: type[InboxMessage], instance: InboxMessage, **kwargs: Any) -> None:
        snapshot = InboxWatch.snapshot(instance)
        transaction.on_commit(lambda: self.buffer.extend(self.watcher.inbox.observe(snapshot)))

    def step(self) -> bool:
        """One round of everyone's work; returns False when nobody had anything to do."""
        try:
            relayed = self.relay.drain().claimed
        except BrokerUnavailable:
            relayed = 0
        before = self._consumed()
        self.consumer.run(once=True, idle_timeout=IDLE_TIMEOUT)
        return bool(relayed or self._consumed() > before or self.tasks.run_ready())

    def _consumed(self) -> int:
        return sum(self.consumer.stats.outcomes.values()) + self.consumer.stats.retries_run

    def _task_duplicate(self, name: str, task_id: str) -> None:
        self.task_duplicates.append((name, f"celery:{name}"))
        self.buffer.add("duplicate", f"celery:{name}", f"task {name} {short(task_id)}: already "
                                                       "done, skipped (task id found in the inbox)")

    def duplicates(self) -> list[tuple[str, str]]:
        """(topic, handler) of every duplicate dropped so far, Celery tasks included."""
        return [*self.consumer.duplicates, *self.task_duplicates]

    def close(self) -> None:
        post_save.disconnect(sender=InboxMessage, dispatch_uid=SAVED_UID)
        self.relay.close()
        self.tasks.close()


class ExternalServices:
    """``--drive-only``: other processes work; a round is a short wait."""

    def __init__(self, poll: float = 0.2) -> None:
        self.poll = poll

    def step(self) -> bool:
        time.sleep(self.poll)
        return False

    def duplicates(self) -> None:
        """Not observable from here: the consumer worker counts them (its log, and its exit line)."""
        return None

    def close(self) -> None:
        pass


class BreakerLog(logging.Handler):
    """Turns the library's breaker log records (``extra={"action": "breaker_..."}``) into timeline events;
    in-process this catches every transition, even open → half-open → open within one call."""

    def __init__(self, buffer: EventBuffer) -> None:
        super().__init__(logging.INFO)
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        action = str(getattr(record, "action", ""))
        if action.startswith("breaker_"):
            from datetime import datetime, timezone

            state = action.removeprefix("breaker_")
            reason = record.getMessage().partition(": ")[2] if state == "open" else ""
            at = datetime.fromtimestamp(record.created, tz=timezone.utc)
            self.buffer.add("breaker", str(getattr(record, "breaker", "")), breaker_text(state, reason), at)


@contextmanager
def library_logs_in_timeline(buffer: EventBuffer, *, verbose: bool) -> Iterator[None]:
    """Breaker changes go to the timeline; the library's other log lines, which the timeline already
    tells, are silenced unless ``verbose``."""
    breaker_logger = logging.getLogger("outbox.breaker")
    handler = BreakerLog(buffer)
    saved = {name: logging.getLogger(name).level for name in ("outbox", "inbox", "outbox.breaker")}
    propagate = breaker_logger.propagate
    breaker_logger.addHandler(handler)
    breaker_logger.setLevel(logging.INFO)
    if not verbose:
        breaker_logger.propagate = False
        logging.getLogger("outbox").setLevel(logging.CRITICAL)
        logging.getLogger("inbox").setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        breaker_logger.removeHandler(handler)
        breaker_logger.propagate = propagate
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
