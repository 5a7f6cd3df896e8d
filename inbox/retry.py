"""The inbox's retry policy, built in one place from a handler's options and the ``INBOX_*`` settings: when the
next delayed retry of a failed message is due, or that there is none (the message is dead).

Immediate retries (run at once, in the same delivery) are the inbox's own; the delayed ones follow
:class:`outbox.retry.RetryStrategy`, the policy the relay uses too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from inbox.conf import inbox_settings
from inbox.models import InboxMessage
from inbox.registry import HandlerSpec, RetryPolicy
from outbox import retry
from outbox.retry import RetryStrategy

T = TypeVar("T")


def policy_for(spec: HandlerSpec | None = None) -> RetryStrategy:
    """The delayed-retry policy of ``spec``: its own options, the INBOX_* settings for those it leaves None
    (the settings alone when ``spec`` is None)."""
    options = spec.retry if spec is not None else RetryPolicy()
    return retry.build(_pick(options.backoff, inbox_settings.BACKOFF),
                       base=_pick(options.base, inbox_settings.BACKOFF_BASE),
                       cap=_pick(options.cap, inbox_settings.BACKOFF_CAP),
                       retries=int(_pick(options.delayed, inbox_settings.DELAYED_RETRIES)),
                       horizon=float(_pick(options.horizon, inbox_settings.RETRY_HORIZON)))


def immediate_retries(spec: HandlerSpec) -> int:
    """How many times a failed first delivery is run again at once, before the delayed retries."""
    return int(_pick(spec.retry.immediate, inbox_settings.IMMEDIATE_RETRIES))


def next_retry(spec: HandlerSpec, row: InboxMessage, now: datetime) -> datetime | None:
    """Time of the next delayed retry after ``row.attempts`` failed runs; None when retries are used up
    (all delayed retries spent, or the retry would fall past the retry horizon)."""
    # max(0, ...): a redelivery cut the immediate retries short.
    delayed_done = max(0, row.attempts - 1 - immediate_retries(spec))
    failing_for = now - row.first_failed_at if row.first_failed_at is not None else timedelta(0)
    wait = policy_for(spec).retry_in(delayed_done + 1, failing_for)
    return None if wait is None else now + wait


def max_attempts(spec: HandlerSpec) -> int:
    """Most runs a message gets under ``spec``'s policy: the first, its immediate and its delayed retries
    (fewer when the retry horizon comes first or a redelivery cuts the immediate retries short)."""
    return 1 + immediate_retries(spec) + policy_for(spec).retries


def horizon_seconds(spec: HandlerSpec | None = None) -> float:
    """The longest a message can stay in retries under ``spec``'s policy (the global settings when None):
    the sum of its delayed retries' longest delays, bounded by its retry horizon. For the retention check."""
    return policy_for(spec).longest_span()


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value
