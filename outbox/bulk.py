"""Operator actions over a selection, as the replay commands run them: counted first (``dry_run`` stops
there), then applied in batches, with a progress callback after each batch and an optional rate cap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet

from outbox import operations
from outbox.operations import DEFAULT_BATCH, in_batches
from outbox.selection import Selection, select_outbox
from outbox.transitions import LEGAL

RETRYABLE = LEGAL["retry"]
REPLAYABLE = LEGAL["replay"]


@dataclass(frozen=True)
class Progress:
    """How far an action got: ``done`` rows changed so far, out of ``total`` counted at the start."""

    done: int
    total: int


ProgressCallback = Callable[[Progress], None]


class Pacer:
    """Keeps work under ``rate`` items per second by pausing between batches (no cap when ``rate`` is None
    or infinite). Raises ValueError for a rate that is not above 0 (nan included)."""

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be a number above 0, not {rate!r}")
        self.rate = None if rate is None or math.isinf(rate) else rate
        self._clock = clock
        self._sleep = sleep
        self._start = clock()

    def batch_size(self, requested: int) -> int:
        """``requested``, capped at one second's worth of the rate so pauses stay short and even."""
        return requested if self.rate is None else max(1, min(requested, math.ceil(self.rate)))

    def wait(self, done: int) -> float:
        """Pause until ``done`` items fit the rate since the pacer started; returns the seconds paused."""
        if self.rate is None:
            return 0.0
        pause = self._start + done / self.rate - self._clock()
        if pause > 0:
            self._sleep(pause)
        return max(0.0, pause)


def apply_in_batches(queryset: QuerySet[Any], action: Callable[[QuerySet[Any]], int], *,
                     batch_size: int = DEFAULT_BATCH, rate: float | None = None, dry_run: bool = False,
                     on_progress: ProgressCallback | None = None) -> int:
    """Run ``action`` on ``queryset`` one batch of primary keys at a time; returns how many rows it
    changed, or with ``dry_run`` how many rows match (changing nothing). 0 when nothing matches."""
    total = queryset.count()
    if dry_run or not total:
        return total
    pacer = Pacer(rate)
    manager = queryset.model._default_manager.using(queryset.db)
    done = 0
    for ids in in_batches(queryset, pacer.batch_size(batch_size)):
        done += action(manager.filter(pk__in=ids))
        if on_progress is not None:
            on_progress(Progress(done, total))
        pacer.wait(done)
    return done


def requeue(selection: Selection, *, sent: bool = False, batch_size: int = DEFAULT_BATCH, rate: float | None = None,
            dry_run: bool = False, on_progress: ProgressCallback | None = None,
            using: str = DEFAULT_DB_ALIAS) -> int:
    """Dead or pending messages of ``selection`` become due now (:func:`outbox.operations.retry`); with
    ``sent``, sent ones are published again with the same id (:func:`outbox.operations.replay`).

    Returns how many messages were re-queued (with ``dry_run``: would be); 0 when none match. Raises
    :class:`~outbox.exceptions.InvalidSelection` for a status the action does not apply to.
    """
    allowed, action = (REPLAYABLE, operations.replay) if sent else (RETRYABLE, operations.retry)
    statuses = (selection.restrict(allowed, "republish", "run without --sent to re-queue dead or pending ones")
                if sent else selection.restrict(allowed, "re-queue", "add --sent to republish sent messages"))
    queryset = select_outbox(selection, using).filter(status__in=statuses)
    return apply_in_batches(queryset, lambda batch: action(batch, batch_size), batch_size=batch_size, rate=rate,
                            dry_run=dry_run, on_progress=on_progress)
