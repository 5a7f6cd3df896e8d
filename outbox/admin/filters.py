"""List filters for message tables too big for ``SELECT DISTINCT`` (which reads every row)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from outbox.conf import outbox_settings


class RecentValuesFilter(admin.SimpleListFilter):
    """Offers the distinct values of ``field`` among the ``sample`` newest rows (read through the index
    behind ``newest_first``), plus :meth:`known_values` and the value in use, at most ``limit`` of them.

    A value that has not been seen lately is still reachable by URL (``?topic=...``); the list is a
    convenience, bounded so that it costs the same on a table of a thousand rows or a billion.
    """

    field: str = ""
    newest_first: str = ""
    sample = 2000
    limit = 60

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = model_admin.get_queryset(request).order_by(self.newest_first)
        seen = set(recent.values_list(self.field, flat=True)[:self.sample])
        chosen = [str(value)] if (value := self.value()) else []
        offered = sorted({str(v) for v in seen if v} | set(self.known_values()))[:self.limit]
        return [(value, value) for value in sorted({*offered, *chosen})]

    def known_values(self) -> Iterable[str]:
        """Values to offer even when no recent row has them (e.g. registered handlers)."""
        return ()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class TopicFilter(RecentValuesFilter):
    title = "topic (seen lately)"
    parameter_name = "topic"
    field = "topic"
    newest_first = "-created_at"


class StuckFilter(admin.SimpleListFilter):
    """Messages that should have moved on by now; subclasses say what that means for their table."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "stuck only")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return self.stuck(queryset, timezone.now()) if self.value() == "yes" else queryset

    def stuck(self, queryset: QuerySet[Any], now: datetime) -> QuerySet[Any]:
        raise NotImplementedError


class OutboxStuckFilter(StuckFilter):
    """Pending for longer than OUTBOX_STUCK_AFTER, or leased past the lease (its relay died)."""

    def stuck(self, queryset: QuerySet[Any], now: datetime) -> QuerySet[Any]:
        return queryset.stuck(now, timedelta(seconds=outbox_settings.STUCK_AFTER))  # type: ignore[attr-defined]
