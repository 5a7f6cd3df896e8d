"""The circuit breaker's state machine, driven by an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from outbox.breaker import CircuitBreaker, State


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_breaker(clock):
    changes: list[State] = []

    def make(**options) -> tuple[CircuitBreaker, list[State]]:
        options = {"threshold": 2, "cooldown": 1.0, "cooldown_cap": 4.0} | options
        return CircuitBreaker("test", clock=clock, on_change=lambda b: changes.append(b.state), **options), changes

    return make


def test_breaker__new__closed_and_allows(make_breaker):
    breaker, changes = make_breaker()
    assert breaker.state is State.CLOSED
    assert breaker.allow() and breaker.allow()
    assert breaker.remaining() == 0.0
    assert changes == []


def test_breaker__failures_below_threshold__stays_closed(make_breaker):
    breaker, changes = make_breaker(threshold=3)
    breaker.failure("a")
    breaker.failure("b")
    assert breaker.state is State.CLOSED and breaker.allow()
    assert changes == []


def test_breaker__success_between_failures__resets_the_count(make_breaker):
    breaker, _ = make_breaker(threshold=2)
    breaker.failure("a")
    breaker.success()
    breaker.failure("b")
    assert breaker.state is State.CLOSED


def test_breaker__threshold_failures__open_refuses_until_cooldown(make_breaker, clock):
    breaker, changes = make_breaker(threshold=2, cooldown=1.0)
    breaker.failure("refused")
    breaker.failure("refused again")
    assert breaker.state is State.OPEN
    assert breaker.last_reason == "refused again"
    assert not breaker.allow()
    clock.advance(0.4)
    assert breaker.remaining() == pytest.approx(0.6)
    assert not breaker.allow()
    assert changes == [State.OPEN]


def test_breaker__cooldown_elapsed__half_open_allows_exactly_one_probe(make_breaker, clock):
    breaker, changes = make_breaker(threshold=1, cooldown=1.0)
    breaker.failure("down")
    clock.advance(1.0)
    assert breaker.allow()
    assert breaker.state is State.HALF_OPEN
    assert not breaker.allow()  # the probe is in flight: nobody else goes
    assert changes == [State.OPEN, State.HALF_OPEN]


def test_breaker__probe_succeeds__closed_with_base_cooldown(make_breaker, clock):
    breaker, changes = make_breaker(threshold=1, cooldown=1.0)
    breaker.failure("down")
    clock.advance(1.0)
    breaker.allow()
    breaker.success()
    assert breaker.state is State.CLOSED and breaker.allow()
    assert breaker.failures == 0 and breaker.cooldown == 1.0
    assert changes == [State.OPEN, State.HALF_OPEN, State.CLOSED]


def test_breaker__probe_fails__open_again_with_doubled_cooldown_up_to_cap(make_breaker, clock):
    breaker, _ = make_breaker(threshold=1, cooldown=1.0, cooldown_cap=4.0)
    breaker.failure("down")
    cooldowns = []
    for _ in range(4):
        clock.advance(breaker.cooldown)
        assert breaker.allow() and breaker.state is State.HALF_OPEN
        breaker.failure("still down")
        assert breaker.state is State.OPEN
        cooldowns.append(breaker.cooldown)
    assert cooldowns == [2.0, 4.0, 4.0, 4.0]
    clock.advance(3.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_breaker__recovered_after_long_outage__next_outage_starts_at_base_cooldown(make_breaker, clock):
    breaker, _ = make_breaker(threshold=1, cooldown=1.0, cooldown_cap=8.0)
    breaker.failure("down")
    for _ in range(3):
        clock.advance(breaker.cooldown)
        breaker.allow()
        breaker.failure("down")
    assert breaker.cooldown == 8.0
    clock.advance(8.0)
    breaker.allow()
    breaker.success()
    breaker.failure("down again")
    assert breaker.state is State.OPEN and breaker.cooldown == 1.0
    clock.advance(1.0)
    assert breaker.allow()


def test_breaker__success_while_closed__no_state_change_reported(make_breaker):
    breaker, changes = make_breaker()
    breaker.success()
    breaker.success()
    assert changes == []


def test_breaker__one_key_failing_again_and_again__counts_once_and_stays_closed(make_breaker):
    breaker, changes = make_breaker(threshold=3, window=4, rate=0.5)
    for _ in range(10):
        breaker.failure("ValueError: poison", key="m-1")
    assert breaker.state is State.CLOSED and breaker.failures == 1 and changes == []
    assert breaker.last_reason == "ValueError: poison"


def test_breaker__different_keys_failing__open_at_threshold(make_breaker):
    breaker, changes = make_breaker(threshold=3)
    for key in ("m-1", "m-1", "m-2", "m-2", "m-3"):
        breaker.failure("ConnectionError", key=key)
    assert breaker.state is State.OPEN and breaker.failures == 3 and changes == [State.OPEN]


def test_breaker__repeated_key_between_successes__counted_once_in_failure_rate(make_breaker):
    breaker, _ = make_breaker(threshold=100, window=4, rate=0.5)
    for _ in range(3):
        breaker.failure("poison", key="m-1")
        breaker.success()
        breaker.success()
    assert breaker.state is State.CLOSED
    breaker.failure("outage", key="m-2")
    breaker.failure("outage", key="m-3")
    assert breaker.state is State.OPEN


def test_breaker__half_open_probe_fails_with_known_key__opens_again(make_breaker, clock):
    breaker, changes = make_breaker(threshold=2)
    breaker.failure("x", key="m-1")
    breaker.failure("x", key="m-2")
    clock.advance(1.0)
    assert breaker.allow() and breaker.state is State.HALF_OPEN
    breaker.failure("x", key="m-1")
    assert changes == [State.OPEN, State.HALF_OPEN, State.OPEN] and breaker.cooldown == 2.0
