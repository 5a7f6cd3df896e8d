"""next_retry(): when the next delayed retry is due after n failed runs, for each back-off strategy, and when
there is none (delayed retries spent, or past the retry horizon); horizon_seconds() for the retention check."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from inbox.models import InboxMessage
from inbox.registry import HandlerSpec, RetryPolicy
from inbox.retry import horizon_seconds, next_retry

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def spec(**policy: object) -> HandlerSpec:
    return HandlerSpec("h", print, ("a",), RetryPolicy(**policy))  # type: ignore[arg-type]


def waits(handler: HandlerSpec, failed_runs: range) -> list[float | None]:
    """Seconds to the next retry after each number of failed runs (None: dead)."""
    result = []
    for attempts in failed_runs:
        when = next_retry(handler, InboxMessage(attempts=attempts, first_failed_at=NOW), NOW)
        result.append(None if when is None else (when - NOW).total_seconds())
    return result


@pytest.mark.parametrize(("backoff", "expected"), [
    pytest.param("constant", [2.0, 2.0, 2.0, 2.0, None], id="constant"),
    pytest.param("linear", [2.0, 4.0, 6.0, 8.0, None], id="linear"),
    pytest.param("exponential", [2.0, 4.0, 8.0, 10.0, None], id="exponential-capped"),
])
def test_next_retry__strategy__delays_then_dead(backoff, expected):
    handler = spec(immediate=0, delayed=4, backoff=backoff, base=2.0, cap=10.0)
    assert waits(handler, range(1, 6)) == expected


def test_next_retry__exponential_jitter__between_exponential_and_half_more():
    handler = spec(immediate=0, delayed=3, backoff="exponential_jitter", base=2.0, cap=100.0)
    for _ in range(50):
        first, second, third, dead = waits(handler, range(1, 5))
        assert 2.0 <= first <= 3.0 and 4.0 <= second <= 6.0 and 8.0 <= third <= 12.0 and dead is None


def test_next_retry__immediate_retries_counted_before_delayed_ones():
    handler = spec(immediate=2, delayed=2, backoff="linear", base=1.0, cap=10.0)
    # Runs 1-3 are the first delivery (1 + 2 immediate retries); the delayed retries follow run 3 and 4.
    assert waits(handler, range(3, 6)) == [1.0, 2.0, None]


def test_next_retry__fewer_runs_than_immediate_retries__first_delayed_delay():
    # A half-open circuit's probe, or a retry of a deferred message, runs once instead of 1 + immediate times.
    handler = spec(immediate=3, delayed=2, backoff="linear", base=1.0, cap=10.0)
    assert waits(handler, range(1, 3)) == [1.0, 1.0]


def test_next_retry__no_delayed_retries__dead_at_once():
    assert waits(spec(immediate=0, delayed=0), range(1, 2)) == [None]


def test_next_retry__past_horizon__dead():
    handler = spec(immediate=0, delayed=10, backoff="constant", base=60.0, cap=60.0, horizon=150.0)
    row = InboxMessage(attempts=1, first_failed_at=NOW - timedelta(seconds=90))
    assert next_retry(handler, row, NOW) == NOW + timedelta(seconds=60)  # 150 s after the first failure: in time
    row.first_failed_at = NOW - timedelta(seconds=91)
    assert next_retry(handler, row, NOW) is None


@override_settings(INBOX_IMMEDIATE_RETRIES=1, INBOX_DELAYED_RETRIES=2, INBOX_BACKOFF="linear",
                   INBOX_BACKOFF_BASE=3.0, INBOX_BACKOFF_CAP=5.0)
def test_next_retry__policy_unset__inbox_settings():
    assert waits(spec(), range(2, 5)) == [3.0, 5.0, None]


@override_settings(INBOX_DELAYED_RETRIES=3, INBOX_BACKOFF="exponential", INBOX_BACKOFF_BASE=10.0,
                   INBOX_BACKOFF_CAP=3600.0, INBOX_RETRY_HORIZON=86400.0)
def test_horizon_seconds__sum_of_exponential_delays():
    assert horizon_seconds() == 10.0 + 20.0 + 40.0


@override_settings(INBOX_DELAYED_RETRIES=3, INBOX_BACKOFF="exponential_jitter", INBOX_BACKOFF_BASE=10.0,
                   INBOX_BACKOFF_CAP=3600.0, INBOX_RETRY_HORIZON=86400.0)
def test_horizon_seconds__jitter__half_more():
    assert horizon_seconds() == 1.5 * (10.0 + 20.0 + 40.0)


@override_settings(INBOX_DELAYED_RETRIES=30, INBOX_BACKOFF_BASE=10.0, INBOX_BACKOFF_CAP=3600.0,
                   INBOX_RETRY_HORIZON=7200.0)
def test_horizon_seconds__capped_by_retry_horizon():
    assert horizon_seconds() == 7200.0
