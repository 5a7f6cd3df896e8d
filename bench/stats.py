"""Small statistics helpers: medians, percentiles, timing."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """Run ``action``; return its result and the elapsed seconds."""
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


class Disturbed(RuntimeError):
    """A measurement was spoiled from outside (e.g. a connection reset by a fault-injection run)."""


def disturbances() -> tuple[type[BaseException], ...]:
    """Errors that mean "something else broke the services", not "the code under test is wrong"."""
    import amqp
    from django.db import OperationalError

    from outbox.exceptions import BrokerUnavailable

    return (Disturbed, BrokerUnavailable, OperationalError, OSError, amqp.exceptions.ConnectionError)


def measured(action: Callable[[], T], what: str, attempts: int = 10) -> T:
    """Run ``action``; if the services were disturbed, reconnect, wait a little and measure again (logged)."""
    from django.db import connections

    from bench.config import log

    for attempt in range(1, attempts + 1):
        try:
            return action()
        except disturbances() as exc:
            if attempt == attempts:
                raise
            log(f"{what}: disturbed ({exc!r}); measuring again in 5 s")
            connections.close_all()  # a terminated backend leaves Django's connection unusable
            time.sleep(5)
    raise AssertionError("unreachable")
