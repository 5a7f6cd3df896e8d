"""Dead inbox messages grouped by how they failed, for the admin's "dead groups" page.

A group is the ``error_group`` key: the same exception type raised from the same innermost frames
(``inbox/failures.py``), so one bug gives one group however many messages it killed. The query reads
dead rows only, through the partial index on ``error_group`` (dead rows are few compared with the
done rows the table keeps).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, Max, Min

from inbox.models import InboxMessage
from inbox.status import DeadGroup

#: Groups shown, largest first.
LIMIT = 100


@dataclass(frozen=True)
class ErrorGroupSample(DeadGroup):
    """One error group over every handler it killed messages in, with the latest of them as a sample:
    ``handler`` is the first of its ``handlers`` handlers (``messaging_status`` groups per handler instead)."""

    handlers: int = 0
    sample: InboxMessage | None = None

    @property
    def short_type(self) -> str:
        return self.error_type.rsplit(".", 1)[-1] or "(unknown)"


def dead_groups(using: str = DEFAULT_DB_ALIAS, limit: int = LIMIT) -> list[ErrorGroupSample]:
    """The ``limit`` largest groups of dead messages, largest first ([] when nothing is dead)."""
    rows = list(InboxMessage.objects.using(using).dead().order_by().values("error_group")
                .annotate(n=Count("id"), first=Min("first_failed_at"), last=Max("last_failed_at"),
                          type_name=Min("error_type"), handler_name=Min("handler"),
                          handler_count=Count("handler", distinct=True), sample_id=Max("id"))
                .order_by("-n", "-last")[:limit])
    samples = InboxMessage.objects.using(using).in_bulk([row["sample_id"] for row in rows])
    return [ErrorGroupSample(error_group=row["error_group"], count=row["n"], first_seen=row["first"],
                             last_seen=row["last"], error_type=row["type_name"], handler=row["handler_name"],
                             handlers=row["handler_count"], sample=samples.get(row["sample_id"])) for row in rows]


def dead_in_group(error_group: str, using: str = DEFAULT_DB_ALIAS) -> InboxMessage | None:
    """The latest dead message of ``error_group`` (None when the group has no dead message left)."""
    return InboxMessage.objects.using(using).dead().filter(error_group=error_group).order_by("-id").first()
