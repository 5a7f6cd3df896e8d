"""What the scenarios use: narrate, name messages, and wait for the database to reach a state.

Waiting never sleeps for an event: each round asks the services to do their work (in-process:
relay, consumer, due retries, tasks) and then checks the condition; it only pauses, a few
milliseconds, when nobody had anything to do (a back-off delay is running).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

from django.utils import timezone

from demo_project.demo.labels import Labels
from demo_project.demo.timeline import Event, EventBuffer, Timeline
from demo_project.demo.watch import Watcher
from inbox.models import InboxMessage
from outbox.models import OutboxMessage

PAUSE = 0.005  # seconds to wait when a round found no work


class DemoTimeout(Exception):
    """The database did not reach the state a scenario waits for in time."""


class Services(Protocol):
    def step(self) -> bool: ...

    def duplicates(self) -> list[tuple[str, str]] | None: ...

    def close(self) -> None: ...


class Driver:
    """Shared by the scenarios: the timeline, the message names, the services and the wait loop."""

    def __init__(self, timeline: Timeline, services: Services, buffer: EventBuffer, labels: Labels,
                 watcher: Watcher, *, timeout: float, quiet_period: float) -> None:
        self.timeline = timeline
        self.services = services
        self.buffer = buffer
        self.labels = labels
        self.watcher = watcher
        self.timeout = timeout
        self.quiet_period = quiet_period
        self.redelivered: Counter[str] = Counter()  # messages the scenarios sent again on purpose, by scenario
        self._worked = True
        self._last_event = time.monotonic()

    def note(self, kind: str, who: str, text: str, at: datetime | None = None) -> None:
        """Print a line about what the scenario itself does (at ``at``, default now)."""
        self.flush([Event(at or timezone.now(), kind, who, text)])

    @contextmanager
    def action(self, kind: str, who: str, text: str) -> Iterator[None]:
        """Print a line about what the block does, timed at its start: before the rows it writes."""
        at = timezone.now()
        yield
        self.flush([Event(at, kind, who, text)])

    def flush(self, extra: list[Event] | None = None) -> None:
        """Print what happened since the last flush (and ``extra``), in time order."""
        events = [*self.watcher.poll(), *self.buffer.take()]
        if events:
            self._last_event = time.monotonic()
        self.timeline.emit([*events, *(extra or [])])

    def until(self, condition: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        """Run rounds of work until ``condition()`` holds; raises :class:`DemoTimeout` after ``timeout`` s."""
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        while True:
            self._worked = self.services.step()
            self.flush()
            if condition():
                return
            if time.monotonic() > deadline:
                raise DemoTimeout(f"gave up after {limit:.0f}s waiting for {what}")
            if not self._worked:
                time.sleep(PAUSE)

    def settle(self) -> None:
        """Wait until nothing is pending or waiting for a retry and the services have gone quiet."""
        self.until(self._quiet, "the messages in flight to settle")

    def _quiet(self) -> bool:
        if OutboxMessage.objects.pending().exists() or InboxMessage.objects.waiting().exists():
            return False
        return not self._worked and time.monotonic() - self._last_event >= self.quiet_period
