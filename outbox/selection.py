"""What an operator picked: filters shared by the replay and purge commands (and anything else that acts
on many messages), turned into a queryset of outbox messages here; the inbox extends it with filters of its own
(``inbox/selection.py``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from outbox.exceptions import InvalidSelection
from outbox.models import OutboxMessage, OutboxMessageQuerySet

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
Rows = TypeVar("Rows", bound=QuerySet[Any])
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Selection:
    """Filters that must all match; an empty tuple or None means "any". ``ids`` are wire message ids.
    Another app's subclass adds filters of its own (``inbox/selection.py``)."""

    ids: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_empty(self) -> bool:
        """True when no filter is set (the selection is every message)."""
        return self == type(self)()

    def not_for_outbox(self) -> str:
        """Why the outbox cannot apply this selection: a subclass names its own filters that are set ("" when
        there are none, always for a plain selection)."""
        return ""

    def apply(self, queryset: Rows, fields: dict[str, tuple[Any, ...]], time_field: str) -> Rows:
        """``queryset`` narrowed by ``fields`` (lookup -> values; empty values mean any) and by
        ``since``/``until`` on ``time_field``."""
        queryset = queryset.filter(**{lookup: values for lookup, values in fields.items() if values})
        if self.since is not None:
            queryset = queryset.filter(**{f"{time_field}__gte": self.since})
        if self.until is not None:
            queryset = queryset.filter(**{f"{time_field}__lt": self.until})
        return queryset

    def restrict(self, allowed: tuple[str, ...], action: str, hint: str = "") -> tuple[str, ...]:
        """The statuses to act on: the chosen ones, all of ``allowed`` when none was chosen.

        Raises :class:`InvalidSelection` when a chosen status is not one ``action`` applies to; its
        message ends with ``hint`` (say, the option that does act on that status).
        """
        wrong = [status for status in self.statuses if status not in allowed]
        if wrong:
            raise InvalidSelection(f"cannot {action} messages with status {', '.join(wrong)} "
                                   f"(only {', '.join(allowed)}){'; ' + hint if hint else ''}")
        return self.statuses or allowed


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An ISO date or datetime (naive ones are in the current time zone), or an age such as ``90s``,
    ``15m``, ``2h``, ``3d``, ``1w`` meaning that long before ``now``. Raises ValueError otherwise."""
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), _UNITS[relative.group(2)]
        return (now or timezone.now()) - timedelta(**{unit: amount})
    moment = _parse_absolute(text.strip())
    if moment is None:
        raise ValueError(f"bad date {text!r}: use an ISO datetime (2024-05-01T12:00) or an age like 2h or 3d")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _parse_absolute(text: str) -> datetime | None:
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:  # well formed but impossible, e.g. 2024-02-30
        return None
    if day is not None:
        return datetime(day.year, day.month, day.day)
    return moment


def select_outbox(selection: Selection, using: str = DEFAULT_DB_ALIAS) -> OutboxMessageQuerySet:
    """The outbox messages that match ``selection`` (every message for an empty one); time range on
    ``created_at``. Raises :class:`InvalidSelection` for another app's filters or an id that is no UUID."""
    misfit = selection.not_for_outbox()
    if misfit:
        raise InvalidSelection(misfit)
    return selection.apply(OutboxMessage.objects.using(using).all(), {
        "id__in": tuple(_uuid(value) for value in selection.ids), "topic__in": selection.topics,
        "key__in": selection.keys, "status__in": selection.statuses}, "created_at")


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidSelection(f"outbox message ids are UUIDs, not {value!r}") from exc
