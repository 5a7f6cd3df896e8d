"""Counting the rows of big tables cheaply, for the admin.

PostgreSQL keeps no row count: ``SELECT COUNT(*)`` reads every row it counts, which on a table of
millions of kept messages takes seconds. The admin needs exact numbers only while they are small and
"about how many" beyond that, so a count here is:

1. the planner's estimate (``EXPLAIN``: ``pg_class.reltuples`` scaled to the table's current size,
   narrowed by column statistics for the filters) when that is above ``limit``;
2. otherwise an exact count bounded by a LIMIT (``SELECT COUNT(*) FROM (... LIMIT limit + 1)``), which
   never reads more than ``limit + 1`` rows however wrong the estimate was.

On other databases (SQLite in the demo) there is no estimate and the bounded count is all there is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

#: Counts up to this are exact; above it they are estimates.
EXACT_LIMIT = 10_000
#: Deepest page the changelist offers: OFFSET grows with the page number, so deep pages are refused.
MAX_PAGES = 200


@dataclass(frozen=True)
class Count:
    """A row count; ``exact`` is False when it is the planner's estimate (or a lower bound)."""

    value: int
    exact: bool

    def __str__(self) -> str:
        return f"{self.value:,}" if self.exact else f"about {self.value:,}"


def cheap_count(queryset: QuerySet[Any], limit: int = EXACT_LIMIT) -> Count:
    """How many rows ``queryset`` has: exact up to ``limit``, estimated above (see the module docstring)."""
    estimate = estimated_count(queryset)
    if estimate is not None and estimate > limit:
        return Count(estimate, exact=False)
    exact = bounded_count(queryset, limit + 1)
    if exact > limit:  # the estimate was too low (stale statistics): the bound is all we know
        return Count(max(exact, estimate or 0), exact=False)
    return Count(exact, exact=True)


def cheap_counts(querysets: dict[str, QuerySet[Any]], limit: int = EXACT_LIMIT) -> dict[str, Count]:
    """:func:`cheap_count` of each queryset, for querysets an index serves (statuses): all the bounded
    counts in one statement, then an estimate for each that reached the bound."""
    bounded = bounded_counts(querysets, limit + 1)
    counts = {}
    for name, queryset in querysets.items():
        if bounded[name] <= limit:
            counts[name] = Count(bounded[name], exact=True)
        else:
            counts[name] = Count(max(bounded[name], estimated_count(queryset) or 0), exact=False)
    return counts


def bounded_counts(querysets: dict[str, QuerySet[Any]], bound: int) -> dict[str, int]:
    """:func:`bounded_count` of each queryset (all on one database) in a single statement."""
    if not querysets:
        return {}
    parts: list[str] = []
    params: list[Any] = []
    for queryset in querysets.values():
        sql, query_params = queryset.order_by().values("pk")[:bound].query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS bounded)")
        params.extend(query_params)
    using = next(iter(querysets.values())).db
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        row = cursor.fetchone()
    return {name: int(value) for name, value in zip(querysets, row, strict=True)}


def bounded_count(queryset: QuerySet[Any], bound: int) -> int:
    """``min(bound, rows)``: ``SELECT COUNT(*) FROM (SELECT ... LIMIT bound)``, reads at most ``bound`` rows."""
    return queryset.order_by().values("pk")[:bound].count()


def estimated_count(queryset: QuerySet[Any]) -> int | None:
    """The planner's estimate of the rows ``queryset`` returns; None when the database is not PostgreSQL."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    plan = json.loads(queryset.order_by().values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


class CheapCountPaginator(Paginator):
    """The changelist's paginator: a :func:`cheap_count` instead of ``COUNT(*)``, and at most ``MAX_PAGES``
    pages (a deep page is an OFFSET that reads every row before it; filters narrow the list instead)."""

    @cached_property
    def cheap_count(self) -> Count:
        return cheap_count(self.object_list)  # type: ignore[arg-type]  # the changelist's queryset

    @cached_property
    def count(self) -> int:
        return self.cheap_count.value

    @property
    def count_is_exact(self) -> bool:
        return self.cheap_count.exact

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, MAX_PAGES)
