"""The health of both apps in one read: counts by status, the oldest unfinished message, recent and
grouped dead messages, circuit breakers and stuck messages.

Shared by ``manage.py messaging_status``, the Prometheus collector (``outbox/metrics.py``) and the
admin's summary. Every query is a GROUP BY or an aggregate on an index; nothing loads rows one by one.
Other apps add their part through :func:`register_status_section` (the inbox does, from its
``AppConfig.ready()``): this base knows no app above it. A section is read only while its app is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from outbox import topology
from outbox.conf import outbox_settings
from outbox.models import BreakerState, OutboxMessage

RECENT = timedelta(hours=1)


@dataclass(frozen=True)
class OutboxStatus:
    """``oldest_pending_age`` is in seconds (None when nothing is pending). ``dead_last_hour`` counts dead
    messages whose last attempt was due in the last hour (the outbox keeps no time of death)."""

    counts: dict[str, int]
    oldest_pending_age: float | None
    dead_last_hour: int
    stuck: int


@dataclass(frozen=True)
class Breaker:
    """Last stored state of a circuit breaker (``outbox-relay`` or an inbox handler). ``stale``: an open or
    half-open state its process stopped refreshing (see ``outbox/breaker_state.py``): its real state is
    unknown, ``state`` is only how it was last seen, at ``updated_at``."""

    name: str
    state: str
    failures: int
    reason: str
    changed_at: datetime
    updated_at: datetime | None = None
    stale: bool = False

    @property
    def open(self) -> bool:
        """True while known to be open or half open (False when closed or stale)."""
        return self.state != "closed" and not self.stale


@dataclass(frozen=True)
class MessagingStatus:
    """Everything ``messaging_status`` reports. ``inbox`` and ``dead_groups`` are the inbox's section
    (``inbox/status.py``): None and [] when the inbox app is not installed."""

    at: datetime
    outbox: OutboxStatus
    inbox: Any = None
    dead_groups: list[Any] = field(default_factory=list)
    breakers: list[Breaker] = field(default_factory=list)
    #: Messages kept in the unrouted queue (see ``outbox/topology.py``); None when not asked or unknown.
    unrouted: int | None = None

    @property
    def stuck(self) -> int:
        """Stuck messages in every app (0 when none)."""
        return self.outbox.stuck + sum(self.stuck_by_section().values())

    def stuck_by_section(self) -> dict[str, int]:
        """Stuck messages of each contributed section, by app label (0 for an app not installed)."""
        return {section.app: section.stuck(self) for section in _sections}

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO strings) with the same fields, plus ``stuck_total``."""
        return {**_jsonable(asdict(self)), "stuck_total": self.stuck}


@dataclass(frozen=True)
class StatusSection:
    """An app's part of :class:`MessagingStatus`, registered with :func:`register_status_section`.

    ``collect(using, now)`` returns the report's fields it fills (read only while ``app`` is installed;
    otherwise the fields keep their defaults); ``stuck(report)`` counts its stuck messages (0 when absent);
    ``lines(report)`` are its lines of the ``messaging_status`` text ([] when absent)."""

    app: str
    collect: Callable[[str, datetime], dict[str, Any]]
    stuck: Callable[[MessagingStatus], int]
    lines: Callable[[MessagingStatus], list[str]]


_sections: list[StatusSection] = []


def register_status_section(section: StatusSection) -> None:
    """Add ``section`` to every :func:`collect` (once per app: registering an app again replaces its section)."""
    _sections[:] = [known for known in _sections if known.app != section.app] + [section]


def installed_sections() -> list[StatusSection]:
    """The registered sections whose app is installed now, in the order they were registered."""
    return [section for section in _sections if apps.is_installed(section.app)]


def collect(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None, *, unrouted: bool = False) -> MessagingStatus:
    """Read the status of both apps from database ``using``; with ``unrouted``, ask the broker too
    (:func:`unrouted_messages`)."""
    now = now or timezone.now()
    contributed = {name: value for section in installed_sections()
                   for name, value in section.collect(using, now).items()}
    return MessagingStatus(at=now, outbox=outbox_status(using, now), breakers=breakers(using, now),
                           unrouted=unrouted_messages() if unrouted else None, **contributed)


def unrouted_messages() -> int | None:
    """Messages waiting in OUTBOX_EXCHANGE's unrouted queue (published when no binding matched them); None
    when unknown: OUTBOX_UNROUTED off, no such queue yet, not an AMQP broker, or the broker unreachable."""
    return topology.unrouted_depth(outbox_settings.BROKER_URL or "", outbox_settings.EXCHANGE)


def outbox_status(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> OutboxStatus:
    """Counts, oldest pending age, recent dead and stuck messages of the outbox."""
    messages = OutboxMessage.objects.using(using)
    return OutboxStatus(*table_status(messages, messages.pending(), arrived="created_at", died="available_at",
                                       stuck_after=outbox_settings.STUCK_AFTER, now=now))


def table_status(messages: Any, unfinished: QuerySet[Any], *, arrived: str, died: str, stuck_after: float,
                  now: datetime | None) -> tuple[dict[str, int], float | None, int, int]:
    """The fields of :class:`OutboxStatus` (and of the inbox's status), in their order, for one table's
    manager ``messages``: counts by status; age of the oldest of ``unfinished`` by its ``arrived`` time
    (None when there are none); dead messages whose ``died`` time is within the last hour; stuck messages."""
    now = now or timezone.now()
    oldest = unfinished.aggregate(oldest=Min(arrived))["oldest"]
    dead_recently = messages.dead().filter(**{f"{died}__gte": now - RECENT}).count()
    stuck = messages.stuck(now, timedelta(seconds=stuck_after)).count()
    return counts_by_status(messages.all()), _age(oldest, now), dead_recently, stuck


def breakers(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> list[Breaker]:
    """Every stored circuit breaker, by name ([] when none ever changed state)."""
    now = now or timezone.now()
    rows = BreakerState.objects.using(using).order_by("name")
    return [Breaker(r.name, r.state, r.failures, r.reason, r.changed_at, r.updated_at,
                    stale=r.stale_at is not None and r.stale_at <= now) for r in rows]


def counts_by_status(queryset: QuerySet[Any]) -> dict[str, int]:
    """Rows per status (one GROUP BY); statuses with no rows are absent."""
    rows = queryset.order_by().values_list("status").annotate(n=Count("pk"))
    return dict(rows)


def _age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value.isoformat() if isinstance(value, datetime) else value
