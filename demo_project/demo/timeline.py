"""The printed timeline: one line per thing that happened, with its time since the demo started."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

KIND_WIDTH = 10
WHO_WIDTH = 26


@dataclass(frozen=True)
class Event:
    """Something that happened: when, what kind of thing, who did it, and a sentence about it."""

    at: datetime
    kind: str
    who: str
    text: str


class EventBuffer:
    """Events reported from inside the library's calls (log records, consumer outcomes), collected
    until the timeline prints them in time order with the events read from the database."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def add(self, kind: str, who: str, text: str, at: datetime | None = None) -> None:
        with self._lock:
            self._events.append(Event(at or timezone.now(), kind, who, text))

    def extend(self, events: Iterable[Event]) -> None:
        with self._lock:
            self._events.extend(events)

    def take(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events


class Timeline:
    """Prints events as ``+1.234s  kind  who  text``, times relative to ``start``."""

    def __init__(self, write: Callable[[str], None], start: datetime) -> None:
        self.write = write
        self.start = start

    def heading(self, title: str, subtitle: str = "") -> None:
        self.write("")
        self.write(f"── {title}")
        if subtitle:
            self.write(f"   {subtitle}")

    def emit(self, events: Iterable[Event]) -> None:
        for event in sorted(events, key=lambda e: e.at):
            self.write(self.line(event))

    def line(self, event: Event) -> str:
        seconds = max(0.0, (event.at - self.start).total_seconds())
        return f"  +{seconds:6.3f}s  {event.kind:<{KIND_WIDTH}}  {event.who:<{WHO_WIDTH}}  {event.text}"
