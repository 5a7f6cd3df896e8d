"""The retry policy (outbox/retry.py): each strategy's curve, the cap, jitter that only ever lengthens a wait,
retries and horizon deciding "dead", and a strategy added by one subclass."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from inbox.exceptions import HandlerConfigurationError
from outbox import retry
from outbox.retry import Constant, Exponential, ExponentialJitter, Linear, RetryStrategy


def waits(strategy: RetryStrategy, retries: range) -> list[float]:
    return [strategy.wait(n) for n in retries]


@pytest.mark.parametrize(("strategy", "expected"), [
    (Constant, [2.0, 2.0, 2.0, 2.0, 2.0]),
    (Linear, [2.0, 4.0, 6.0, 8.0, 10.0]),
    (Exponential, [2.0, 4.0, 8.0, 16.0, 32.0]),
])
def test_wait__retries_1_to_5__follows_the_strategys_curve(strategy, expected):
    assert waits(strategy(base=2.0, cap=1000.0), range(1, 6)) == expected


@pytest.mark.parametrize("strategy", [Constant, Linear, Exponential])
def test_wait__beyond_the_cap__capped(strategy):
    assert strategy(base=3.0, cap=2.5).wait(50) == 2.5
    assert max(waits(strategy(base=1.0, cap=60.0), range(1, 200))) <= 60.0


def test_wait__exponential_huge_retry__capped_without_overflow():
    assert Exponential(base=1.0, cap=300.0).wait(10_000) == 300.0
    assert ExponentialJitter(base=1.0, cap=300.0, rng=random.Random(1)).wait(10**9) <= 450.0


def test_wait__jitter__never_shorter_than_exponential_and_at_most_half_more():
    jittered = ExponentialJitter(base=0.5, cap=120.0, rng=random.Random(20240611))
    for n in range(1, 40):
        exponential = Exponential(base=0.5, cap=120.0).wait(n)
        for _ in range(50):
            assert exponential <= jittered.wait(n) <= exponential * 1.5 == jittered.longest_wait(n)


def test_wait__jitter__spreads_retries_apart():
    jittered = ExponentialJitter(base=1.0, cap=300.0, rng=random.Random(7))
    assert len({jittered.wait(3) for _ in range(20)}) == 20


def test_wait__jitter_with_same_seed__reproducible():
    def first_nine(seed: int) -> list[float]:
        return waits(retry.build("exponential_jitter", base=1.0, cap=60.0, retries=9, rng=random.Random(seed)),
                     range(1, 10))

    assert first_nine(3) == first_nine(3)


@pytest.mark.parametrize("n", [0, -3])
def test_retry_in__retry_number_below_one__treated_as_first(n):
    assert Exponential(base=1.5, cap=10.0, retries=3).retry_in(n) == timedelta(seconds=1.5)
    assert Linear(base=1.5, cap=10.0, retries=3).retry_in(n) == timedelta(seconds=1.5)


def test_retry_in__retries_spent__dead():
    policy = Linear(base=1.0, cap=10.0, retries=3)
    assert [policy.retry_in(n) for n in range(1, 5)] == [timedelta(seconds=s) for s in (1, 2, 3)] + [None]
    assert Constant(base=1.0, retries=0).retry_in(1) is None


def test_retry_in__retry_would_fall_past_the_horizon__dead():
    policy = Constant(base=10.0, cap=10.0, retries=100, horizon=60.0)
    assert policy.retry_in(5, failing_for=timedelta(seconds=50)) == timedelta(seconds=10)
    assert policy.retry_in(5, failing_for=timedelta(seconds=51)) is None


def test_longest_span__jitter_counted_at_its_longest_and_bounded_by_the_horizon():
    assert ExponentialJitter(base=10.0, cap=3600.0, retries=3).longest_span() == 1.5 * (10 + 20 + 40)
    assert Exponential(base=10.0, cap=3600.0, retries=3, horizon=50.0).longest_span() == 50.0


def test_relay_policy__from_outbox_settings__exponential_jitter_and_dead_at_max_attempts():
    with override_settings(OUTBOX_BACKOFF_BASE=2.0, OUTBOX_BACKOFF_CAP=30.0, OUTBOX_MAX_ATTEMPTS=3):
        policy = retry.relay_policy()
    assert isinstance(policy, ExponentialJitter) and (policy.base, policy.cap) == (2.0, 30.0)
    assert timedelta(seconds=4) <= policy.retry_in(2) <= timedelta(seconds=6)
    assert policy.retry_in(3) is None  # the third failed attempt is the last


def test_build__unknown_name__value_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"'fibonacci'.*exponential_jitter"):
        retry.build("fibonacci", base=1.0, cap=10.0, retries=1)


class Fibonacci(RetryStrategy):
    """A strategy added as a user would add one: a subclass with a name and a wait."""

    name = "fibonacci"

    def wait(self, retry: int) -> float:
        previous, current = 0.0, self.base
        for _ in range(retry - 1):
            previous, current = current, previous + current
        return min(self.cap, current)


@pytest.fixture
def fibonacci() -> Iterator[type[RetryStrategy]]:
    retry.register(Fibonacci)
    yield Fibonacci
    retry._strategies.pop(Fibonacci.name)


def test_register__new_strategy__usable_by_name_in_settings_and_handler_options(fibonacci, handlers):
    policy = retry.build("fibonacci", base=1.0, cap=100.0, retries=6)
    assert waits(policy, range(1, 7)) == [1.0, 1.0, 2.0, 3.0, 5.0, 8.0]
    with override_settings(INBOX_BACKOFF="fibonacci", INBOX_QUEUE="svc"):
        assert [e.id for e in run_checks(tags=["inbox"]) if e.id == "inbox.E002"] == []
    handlers("orders.placed", backoff="fibonacci")(lambda message: None)  # no HandlerConfigurationError


def test_register__unregistered_name__refused_by_check_and_handler_option(handlers):
    with override_settings(INBOX_BACKOFF="fibonacci"):
        assert "inbox.E002" in [e.id for e in run_checks(tags=["inbox"])]
    with pytest.raises(HandlerConfigurationError, match="unknown backoff 'fibonacci'"):
        handlers("orders.placed", backoff="fibonacci")(lambda message: None)
