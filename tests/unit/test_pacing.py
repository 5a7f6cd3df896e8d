"""The rate cap of the replay commands, and the progress bar they draw."""

from __future__ import annotations

import io

import pytest
from django.core.management.base import OutputWrapper

from outbox.bulk import Pacer, Progress
from outbox.management.cli import ProgressBar


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_pacer__no_rate__batch_as_asked_and_never_pauses():
    clock = FakeClock()
    pacer = Pacer(None, clock=clock, sleep=clock.sleep)
    assert pacer.batch_size(1000) == 1000
    assert pacer.wait(1_000_000) == 0.0
    assert clock.slept == []


def test_pacer__rate__batches_of_one_second_and_pauses_to_keep_the_rate():
    clock = FakeClock()
    pacer = Pacer(100, clock=clock, sleep=clock.sleep)
    assert pacer.batch_size(1000) == 100
    assert pacer.batch_size(10) == 10
    clock.now = 0.25  # the first batch of 100 took 0.25 s: wait until 1 s
    pacer.wait(100)
    clock.now += 2.0  # the second batch was slow: no pause
    pacer.wait(200)
    assert clock.slept == [0.75]


def test_pacer__rate_below_one__batches_of_one():
    assert Pacer(0.5).batch_size(1000) == 1


@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("-inf")])
def test_pacer__rate_not_above_zero__value_error(rate):
    with pytest.raises(ValueError, match="rate must be a number above 0"):
        Pacer(rate)


def test_pacer__infinite_rate__no_limit():
    clock = FakeClock()
    pacer = Pacer(float("inf"), clock=clock, sleep=clock.sleep)
    assert pacer.batch_size(1000) == 1000
    assert pacer.wait(1_000_000) == 0.0
    assert clock.slept == []


def test_progress_bar__redrawn_in_place_and_ended_with_a_newline():
    out = io.StringIO()
    bar = ProgressBar(OutputWrapper(out), width=10)
    bar(Progress(5, 10))
    bar(Progress(10, 10))
    bar.finish()
    assert out.getvalue() == "\r[#####-----] 5/10\r[##########] 10/10\n"


def test_progress_bar__disabled__writes_nothing():
    out = io.StringIO()
    bar = ProgressBar(OutputWrapper(out), enabled=False)
    bar(Progress(1, 2))
    bar.finish()
    assert out.getvalue() == ""
