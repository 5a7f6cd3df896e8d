"""When the next delayed retry of a failed message is due, or that there is none (the message is dead)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from inbox.conf import inbox_settings
from inbox.models import InboxMessage
from inbox.registry import HandlerSpec, RetryPolicy
from outbox import backoff

T = TypeVar("T")


def next_retry(spec: HandlerSpec, row: InboxMessage, now: datetime) -> datetime | None:
    """Time of the next delayed retry after ``row.attempts`` failed runs; None when retries are used up
    (all delayed retries spent, or the retry would fall past the retry horizon)."""
    policy = spec.retry
    immediate = _pick(policy.immediate, inbox_settings.IMMEDIATE_RETRIES)
    delayed_done = row.attempts - 1 - int(immediate)
    if delayed_done < 0:
        delayed_done = 0  # a redelivery cut the immediate retries short
    if delayed_done >= _pick(policy.delayed, inbox_settings.DELAYED_RETRIES):
        return None
    wait = backoff.delay(_pick(policy.backoff, inbox_settings.BACKOFF), delayed_done + 1,
                         _pick(policy.base, inbox_settings.BACKOFF_BASE), _pick(policy.cap, inbox_settings.BACKOFF_CAP))
    when = now + timedelta(seconds=wait)
    horizon = timedelta(seconds=_pick(policy.horizon, inbox_settings.RETRY_HORIZON))
    if row.first_failed_at is not None and when > row.first_failed_at + horizon:
        return None
    return when


def max_attempts(spec: HandlerSpec) -> int:
    """Most runs a message gets under ``spec``'s policy: the first, its immediate and its delayed retries
    (fewer when the retry horizon comes first or a redelivery cuts the immediate retries short)."""
    policy = spec.retry
    return 1 + int(_pick(policy.immediate, inbox_settings.IMMEDIATE_RETRIES)) + int(
        _pick(policy.delayed, inbox_settings.DELAYED_RETRIES))


def horizon_seconds(spec: HandlerSpec | None = None) -> float:
    """The longest a message can stay in retries under ``spec``'s policy (the global settings when None):
    the sum of its delayed retries' longest delays, bounded by its retry horizon. For the retention check."""
    policy = spec.retry if spec is not None else RetryPolicy()
    strategy = _pick(policy.backoff, inbox_settings.BACKOFF)
    base, cap = _pick(policy.base, inbox_settings.BACKOFF_BASE), _pick(policy.cap, inbox_settings.BACKOFF_CAP)
    total = 0.0
    for n in range(1, int(_pick(policy.delayed, inbox_settings.DELAYED_RETRIES)) + 1):
        if strategy == backoff.Strategy.EXPONENTIAL_JITTER:  # the longest jitter: half the delay again
            total += 1.5 * backoff.delay(backoff.Strategy.EXPONENTIAL, n, base, cap)
        else:
            total += backoff.delay(strategy, n, base, cap)
    return min(total, float(_pick(policy.horizon, inbox_settings.RETRY_HORIZON)))


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value
