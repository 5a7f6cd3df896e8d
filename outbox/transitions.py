"""Which operator actions may change an outbox message, from which statuses: the one table every operator
path (admin actions, ``outbox_replay``, ``outbox.operations``) reads.

The relay's own transitions (claim, mark sent, record a failure, expire) live with their queries in
``models.py`` and only ever leave ``pending``. An operator's choice is re-checked where it is written: the
UPDATE repeats the allowed statuses, and PostgreSQL re-evaluates that condition on the newest version of
each row after waiting for its lock (READ COMMITTED), so a message the relay marked sent meanwhile is left
alone. ``sent`` is final for retry and discard (only ``replay`` starts a sent message again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from outbox.models import Status

#: Action -> the statuses it may change. Anything else is left as it is.
LEGAL: dict[str, tuple[str, ...]] = {
    "retry": (Status.DEAD.value, Status.PENDING.value),
    "discard": (Status.DEAD.value, Status.PENDING.value),
    "replay": (Status.SENT.value,),
}


def before_write(ids: list[Any]) -> None:
    """Called after a batch of ``ids`` was chosen and before it is locked and changed; does nothing.

    A seam for tests: the window where a relay or a retry poller may change the chosen rows, which
    every operator action must survive (see ``tests/integration/test_operator_races.py``).
    """


@dataclass(frozen=True)
class Changed:
    """What an operator action did: ``count`` rows changed, and ``notes`` for the operator about selected
    rows it left as they were and why (empty when there is nothing to say)."""

    count: int
    notes: tuple[str, ...] = ()
