"""The inbox's Prometheus metrics (see ``outbox/metrics.py``): counters labelled by handler, and the gauges of
the inbox table added to each scrape (registered from ``InboxConfig.ready()``). Without ``prometheus_client``
every function here does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction

from inbox.status import inbox_status
from outbox import metrics

#: Inbox counters, labelled by handler (counted when the handler's transaction commits).
INBOX_COUNTERS = {
    "applied": "Messages a handler applied.",
    "retried": "Failures scheduled for a delayed retry.",
    "dead": "Messages that went dead (retries exhausted, or refused by a business error).",
    "expired": "Messages that expired before a handler applied them.",
    "skipped": "Stale messages skipped (a later one of their key was already applied).",
}


def inbox_event(event: str, handler: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Count ``event`` (a key of :data:`INBOX_COUNTERS`) for ``handler`` once the current transaction of
    ``using`` commits (never if it rolls back); no-op without prometheus."""
    if metrics.enabled():
        counter = metrics.counter_of("inbox", event, "handler", INBOX_COUNTERS)
        transaction.on_commit(lambda: counter.labels(handler=handler).inc(), using=using)


def gauges(using: str) -> Iterator[Any]:
    """The inbox table's gauges: waiting (waiting and blocked rows), oldest waiting age, dead, stuck."""
    status = inbox_status(using)
    counts = status.counts
    return metrics.table_gauges("inbox", "waiting", counts.get("waiting", 0) + counts.get("blocked", 0),
                                status.oldest_waiting_age, counts.get("dead", 0), status.stuck)
