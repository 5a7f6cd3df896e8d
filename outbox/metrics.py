"""Prometheus metrics, when ``prometheus_client`` is installed (``pip install django-outbox-inbox[metrics]``);
without it every function here does nothing.

Counters are per process (each process that publishes, relays or consumes counts its own), in
prometheus_client's default registry: see :data:`OUTBOX_COUNTERS` (other apps declare theirs with
:func:`counter_of`, as ``inbox/metrics.py`` does). Gauges of the tables (pending, oldest pending age, dead,
stuck) are read from the database on each scrape by :class:`StatusCollector`, so every process reports the
same, true values; other apps add theirs with :func:`register_gauges`. Expose them with the
``outbox.views.metrics`` view or, in the relay and consumer processes, with ``--metrics-port`` (:func:`serve`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

try:
    import prometheus_client
    from prometheus_client.core import GaugeMetricFamily
except ImportError:  # the metrics extra is optional
    prometheus_client = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: Counter name (``<name>_total`` on the wire) → help text. Outbox counters are labelled by topic.
OUTBOX_COUNTERS = {
    "published": "Messages written to the outbox (counted when the transaction commits).",
    "relayed": "Messages the broker confirmed.",
    "retried": "Publish attempts that failed and will be retried.",
    "dead": "Messages that went dead after their last publish attempt.",
    "expired": "Messages that expired before they could be sent.",
}
#: Distinct topics counted by name; later new topics are counted as "other" (bounded label cardinality).
MAX_TOPICS = 100
OTHER = "other"

_counters: dict[str, Any] = {}
_topics: set[str] = set()
_lock = threading.Lock()


def enabled() -> bool:
    """True when ``prometheus_client`` is importable."""
    return prometheus_client is not None


def outbox_event(event: str, topics: Iterable[str]) -> None:
    """Count one ``event`` (a key of :data:`OUTBOX_COUNTERS`) per topic in ``topics``; no-op without prometheus."""
    if prometheus_client is None:
        return
    counter = counter_of("outbox", event, "topic", OUTBOX_COUNTERS)
    for topic, count in Counter(topics).items():
        counter.labels(topic=_topic_label(topic)).inc(count)


def outbox_event_on_commit(event: str, topics: Iterable[str], using: str = DEFAULT_DB_ALIAS) -> None:
    """:func:`outbox_event` once the current transaction of ``using`` commits (never if it rolls back)."""
    if prometheus_client is not None:
        names = list(topics)
        transaction.on_commit(lambda: outbox_event(event, names), using=using)


def counter_of(app: str, event: str, label: str, known: dict[str, str]) -> Any:
    """The counter ``<app>_<event>`` with one label ``label`` (help text from ``known[event]``), created on
    first use. Call only when :func:`enabled`."""
    name = f"{app}_{event}"
    with _lock:
        if name not in _counters:
            _counters[name] = prometheus_client.Counter(name, known[event], [label])
        return _counters[name]


#: A source of gauges: ``using`` -> the metric families, read from the database now.
GaugeSource = Callable[[str], Iterable[Any]]
_gauge_sources: dict[str, GaugeSource] = {}


def register_gauges(app: str, source: GaugeSource) -> None:
    """Add the gauges of ``source`` to each scrape while ``app`` is installed (the inbox registers its own
    from its ``AppConfig.ready()``); registering an app again replaces its source."""
    _gauge_sources[app] = source


def _topic_label(topic: str) -> str:
    with _lock:
        if topic in _topics:
            return topic
        if len(_topics) < MAX_TOPICS:
            _topics.add(topic)
            return topic
    return OTHER


class StatusCollector:
    """Gauges read from the database on each scrape (see ``outbox/status.py``). A database error is
    logged and the gauges are left out of that scrape."""

    def __init__(self, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using

    def describe(self) -> list[Any]:
        """No names up front: registering must not query the database."""
        return []

    def collect(self) -> Iterator[Any]:
        """The gauges of both apps, computed now."""
        from outbox import status

        try:
            outbox = status.outbox_status(self.using)
            contributed = [gauge for app, source in _gauge_sources.items() if apps.is_installed(app)
                           for gauge in source(self.using)]
            breakers = status.breakers(self.using)
            unrouted = status.unrouted_messages()
        except DatabaseError:
            logger.warning("metrics: could not read the outbox status", exc_info=True,
                           extra={"action": "metrics_status_failed"})
            return
        yield from table_gauges("outbox", "pending", outbox.counts.get("pending", 0), outbox.oldest_pending_age,
                                outbox.counts.get("dead", 0), outbox.stuck)
        yield from contributed
        yield _breaker_gauge(breakers)
        if unrouted is not None:
            yield GaugeMetricFamily("outbox_unrouted_messages", "Messages kept in the exchange's unrouted queue "
                                    "(published when no binding matched them; see OUTBOX_UNROUTED).", value=unrouted)


def table_gauges(app: str, unfinished: str, count: int, oldest: float | None, dead: int, stuck: int
                 ) -> Iterator[Any]:
    """The four gauges of one table: ``<app>_<unfinished>_messages``, ``<app>_oldest_<unfinished>_age_seconds``,
    ``<app>_dead_messages`` and ``<app>_stuck_messages``."""
    yield GaugeMetricFamily(f"{app}_{unfinished}_messages", f"{app.title()} messages {unfinished} now.", value=count)
    yield GaugeMetricFamily(f"{app}_oldest_{unfinished}_age_seconds",
                            f"Age of the oldest {unfinished} {app} message (0 when none).", value=oldest or 0.0)
    yield GaugeMetricFamily(f"{app}_dead_messages", f"Dead {app} messages now.", value=dead)
    yield GaugeMetricFamily(f"{app}_stuck_messages", f"Stuck {app} messages now (see {app.upper()}_STUCK_AFTER).",
                            value=stuck)


def _breaker_gauge(breakers: list[Any]) -> Any:
    gauge = GaugeMetricFamily("messaging_breaker_open", "1 while a circuit breaker is open or half open (0 when "
                              "closed, or when its open state was not refreshed in time: unknown).", labels=["name"])
    for breaker in breakers:
        gauge.add_metric([breaker.name], 1 if breaker.open else 0)
    return gauge


class _ClosingCollector:
    """Collects ``source``, then closes this thread's database connections: the metrics server answers
    each scrape in a new thread, which would otherwise leave one connection open per scrape."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        try:
            yield from self.source.collect()
        finally:
            connections.close_all()


_exposed: Any = None


def registry() -> Any:
    """What the view and the metrics server expose: prometheus_client's default registry (these counters
    and anything else the project registered there) plus :class:`StatusCollector`. The gauges stay out of
    the default registry, so reading it never queries the database. Raises ImportError without prometheus."""
    global _exposed
    if prometheus_client is None:
        raise ImportError("prometheus_client is not installed: pip install 'django-outbox-inbox[metrics]'")
    with _lock:
        if _exposed is None:
            exposed = prometheus_client.CollectorRegistry(auto_describe=False)
            exposed.register(prometheus_client.REGISTRY)
            exposed.register(StatusCollector())
            _exposed = exposed
    return _exposed


def render() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, and its content type."""
    return prometheus_client.generate_latest(registry()), prometheus_client.CONTENT_TYPE_LATEST


def serve(port: int, addr: str = "127.0.0.1") -> tuple[Any, threading.Thread]:
    """Serve the metrics on ``http://addr:port/`` from a daemon thread; returns (server, thread) so that a
    caller may ``server.shutdown()``. Raises ImportError without prometheus, OSError when the port is taken.

    The server asks for no credentials: it listens on the loopback interface unless ``addr`` says
    otherwise, and on any other address every client that reaches it can read the metrics."""
    source = registry()
    exposed = prometheus_client.CollectorRegistry(auto_describe=False)
    exposed.register(_ClosingCollector(source))
    server, thread = prometheus_client.start_http_server(port, addr, registry=exposed)
    return server, thread
