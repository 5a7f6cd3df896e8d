"""Back-off between attempts: each strategy's curve, the cap, and jitter that only ever lengthens a wait."""

from __future__ import annotations

import random

import pytest

from outbox.backoff import Strategy, delay


@pytest.mark.parametrize(("strategy", "expected"), [
    (Strategy.CONSTANT, [2.0, 2.0, 2.0, 2.0, 2.0]),
    (Strategy.LINEAR, [2.0, 4.0, 6.0, 8.0, 10.0]),
    (Strategy.EXPONENTIAL, [2.0, 4.0, 8.0, 16.0, 32.0]),
])
def test_delay__attempts_1_to_5__follows_the_strategys_curve(strategy, expected):
    assert [delay(strategy, attempt, base=2.0, cap=1000.0) for attempt in range(1, 6)] == expected


@pytest.mark.parametrize("strategy", [Strategy.CONSTANT, Strategy.LINEAR, Strategy.EXPONENTIAL])
def test_delay__beyond_the_cap__capped(strategy):
    assert delay(strategy, 50, base=3.0, cap=2.5) == 2.5
    assert max(delay(strategy, attempt, base=1.0, cap=60.0) for attempt in range(1, 200)) <= 60.0


def test_delay__exponential_huge_attempt__capped_without_overflow():
    assert delay(Strategy.EXPONENTIAL, 10_000, base=1.0, cap=300.0) == 300.0
    assert delay(Strategy.EXPONENTIAL_JITTER, 10**9, base=1.0, cap=300.0, rng=random.Random(1)) <= 450.0


def test_delay__jitter__never_shorter_than_exponential_and_at_most_half_more():
    rng = random.Random(20240611)
    for attempt in range(1, 40):
        exponential = delay(Strategy.EXPONENTIAL, attempt, base=0.5, cap=120.0)
        for _ in range(50):
            jittered = delay(Strategy.EXPONENTIAL_JITTER, attempt, base=0.5, cap=120.0, rng=rng)
            assert exponential <= jittered <= exponential * 1.5


def test_delay__jitter__spreads_retries_apart():
    rng = random.Random(7)
    waits = {delay(Strategy.EXPONENTIAL_JITTER, 3, base=1.0, cap=300.0, rng=rng) for _ in range(20)}
    assert len(waits) == 20


def test_delay__jitter_with_same_seed__reproducible():
    first = [delay("exponential_jitter", n, 1.0, 60.0, rng=random.Random(3)) for n in range(1, 10)]
    again = [delay("exponential_jitter", n, 1.0, 60.0, rng=random.Random(3)) for n in range(1, 10)]
    assert first == again


@pytest.mark.parametrize("attempt", [0, -3])
def test_delay__attempt_below_one__treated_as_first(attempt):
    assert delay(Strategy.EXPONENTIAL, attempt, base=1.5, cap=10.0) == 1.5
    assert delay(Strategy.LINEAR, attempt, base=1.5, cap=10.0) == 1.5


def test_delay__strategy_by_name__same_as_enum():
    assert delay("linear", 3, 1.0, 10.0) == delay(Strategy.LINEAR, 3, 1.0, 10.0) == 3.0


def test_delay__unknown_strategy__value_error():
    with pytest.raises(ValueError, match="fibonacci"):
        delay("fibonacci", 1, 1.0, 10.0)
