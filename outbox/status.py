"""The health of both apps in one read: counts by status, the oldest unfinished message, recent and
grouped dead messages, circuit breakers and stuck messages.

Shared by ``manage.py messaging_status``, the Prometheus collector (``outbox/metrics.py``) and the
admin's summary. Every query is a GROUP BY or an aggregate on an index; nothing loads rows one by one.
The inbox part is present only when the ``inbox`` app is installed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Max, Min, QuerySet
from django.utils import timezone

from outbox import topology
from outbox.conf import outbox_settings
from outbox.models import BreakerState, OutboxMessage

RECENT = timedelta(hours=1)
TOP_GROUPS = 10


@dataclass(frozen=True)
class OutboxStatus:
    """``oldest_pending_age`` is in seconds (None when nothing is pending). ``dead_last_hour`` counts dead
    messages whose last attempt was due in the last hour (the outbox keeps no time of death)."""

    counts: dict[str, int]
    oldest_pending_age: float | None
    dead_last_hour: int
    stuck: int


@dataclass(frozen=True)
class InboxStatus:
    """``oldest_waiting_age`` is in seconds over waiting and blocked rows (None when there are none).
    ``releasable`` counts blocked rows with nothing ahead of them in their key: the retry poller releases
    them on its next round (self-healing); a number that stays above 0 means no poller runs."""

    counts: dict[str, int]
    oldest_waiting_age: float | None
    dead_last_hour: int
    stuck: int
    releasable: int = 0


@dataclass(frozen=True)
class DeadGroup:
    """Dead inbox messages that failed the same way (same exception type and top frames) in one handler."""

    error_group: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    error_type: str
    handler: str


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
    """Everything ``messaging_status`` reports; ``inbox`` is None when the inbox app is not installed."""

    at: datetime
    outbox: OutboxStatus
    inbox: InboxStatus | None
    dead_groups: list[DeadGroup] = field(default_factory=list)
    breakers: list[Breaker] = field(default_factory=list)
    #: Messages kept in the unrouted queue (see ``outbox/topology.py``); None when not asked or unknown.
    unrouted: int | None = None

    @property
    def stuck(self) -> int:
        """Stuck messages in both apps (0 when none)."""
        return self.outbox.stuck + (self.inbox.stuck if self.inbox is not None else 0)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO strings) with the same fields, plus ``stuck_total``."""
        return {**_jsonable(asdict(self)), "stuck_total": self.stuck}


def collect(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None, *, unrouted: bool = False) -> MessagingStatus:
    """Read the status of both apps from database ``using``; with ``unrouted``, ask the broker too
    (:func:`unrouted_messages`)."""
    now = now or timezone.now()
    inbox = inbox_installed()
    return MessagingStatus(at=now, outbox=outbox_status(using, now), inbox=inbox_status(using, now) if inbox else None,
                           dead_groups=dead_groups(using) if inbox else [], breakers=breakers(using, now),
                           unrouted=unrouted_messages() if unrouted else None)


def unrouted_messages() -> int | None:
    """Messages waiting in OUTBOX_EXCHANGE's unrouted queue (published when no binding matched them); None
    when unknown: OUTBOX_UNROUTED off, no such queue yet, not an AMQP broker, or the broker unreachable."""
    return topology.unrouted_depth(outbox_settings.BROKER_URL or "", outbox_settings.EXCHANGE)


def inbox_installed() -> bool:
    """True when the ``inbox`` app is in INSTALLED_APPS."""
    return apps.is_installed("inbox")


def outbox_status(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> OutboxStatus:
    """Counts, oldest pending age, recent dead and stuck messages of the outbox."""
    messages = OutboxMessage.objects.using(using)
    return OutboxStatus(*_table_status(messages, messages.pending(), arrived="created_at", died="available_at",
                                       stuck_after=outbox_settings.STUCK_AFTER, now=now))


def inbox_status(using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> InboxStatus:
    """Counts, oldest waiting age (waiting and blocked rows), recent dead, stuck and releasable blocked messages
    of the inbox."""
    from inbox.conf import inbox_settings
    from inbox.models import InboxMessage

    messages = InboxMessage.objects.using(using)
    return InboxStatus(*_table_status(messages, messages.waiting(), arrived="received_at", died="last_failed_at",
                                      stuck_after=inbox_settings.STUCK_AFTER, now=now),
                       releasable=messages.releasable(inbox_settings.DEAD_BLOCKS_KEY).count())


def _table_status(messages: Any, unfinished: QuerySet[Any], *, arrived: str, died: str, stuck_after: float,
                  now: datetime | None) -> tuple[dict[str, int], float | None, int, int]:
    """The fields of :class:`OutboxStatus` and :class:`InboxStatus`, in their order, for one table's
    manager ``messages``: counts by status; age of the oldest of ``unfinished`` by its ``arrived`` time
    (None when there are none); dead messages whose ``died`` time is within the last hour; stuck messages."""
    now = now or timezone.now()
    oldest = unfinished.aggregate(oldest=Min(arrived))["oldest"]
    dead_recently = messages.dead().filter(**{f"{died}__gte": now - RECENT}).count()
    stuck = messages.stuck(now, timedelta(seconds=stuck_after)).count()
    return counts_by_status(messages.all()), _age(oldest, now), dead_recently, stuck


def dead_groups(using: str = DEFAULT_DB_ALIAS, limit: int = TOP_GROUPS) -> list[DeadGroup]:
    """The ``limit`` largest groups of dead inbox messages, largest first ([] when nothing is dead)."""
    from inbox.models import InboxMessage

    rows = (InboxMessage.objects.using(using).dead().values("error_group", "error_type", "handler")
            .annotate(count=Count("id"), first_seen=Min("first_failed_at"), last_seen=Max("last_failed_at"))
            .order_by("-count", "-last_seen")[:limit])
    return [DeadGroup(**row) for row in rows]


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
