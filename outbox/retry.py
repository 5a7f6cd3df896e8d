"""The retry policy of the relay and the inbox: after a failed attempt, retry when, or is the message dead?

A policy is a strategy (how the wait grows: a subclass of :class:`RetryStrategy`) with its numbers: the
first wait ``base``, the longest ``cap``, how many ``retries`` before the message is dead, and optionally a
``horizon`` past which no retry is scheduled. :meth:`RetryStrategy.retry_in` is the one question both apps
ask. Adding a strategy is one subclass with a ``name`` and a :meth:`~RetryStrategy.wait`, registered with
:func:`register`: its name is then valid in ``INBOX_BACKOFF`` and a handler's ``backoff=`` (the system
checks and the handler decorator read :func:`names`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar, TypeVar

from outbox.conf import outbox_settings

#: 2**62 seconds is past any cap: a larger exponent only risks overflow.
MAX_EXPONENT = 62


@dataclass(frozen=True)
class RetryStrategy:
    """Base strategy: subclasses say how long to wait before retry number ``n`` (:meth:`wait`)."""

    name: ClassVar[str] = ""

    base: float = 1.0
    cap: float = 300.0
    retries: int = 0
    #: Seconds after the first failure past which no retry is scheduled (None: no horizon).
    horizon: float | None = None
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def retry_in(self, retry: int, failing_for: timedelta = timedelta(0)) -> timedelta | None:
        """How long to wait before retry number ``retry`` (1: the first retry), or None: the message is dead
        (its ``retries`` are spent, or the retry would come more than ``horizon`` seconds after the first
        failure, ``failing_for`` ago)."""
        if retry > self.retries:
            return None
        wait = timedelta(seconds=self.wait(max(1, retry)))
        if self.horizon is not None and failing_for + wait > timedelta(seconds=self.horizon):
            return None
        return wait

    def wait(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (at least 1), at most :attr:`cap` (plus any jitter)."""
        raise NotImplementedError

    def longest_wait(self, retry: int) -> float:
        """The longest :meth:`wait` can be (the same unless it is random)."""
        return self.wait(retry)

    def longest_span(self) -> float:
        """The longest a message can stay in retries: the sum of its retries' longest waits, bounded by the
        horizon. For the check that processed rows are kept as long (inbox.E003)."""
        total = sum(self.longest_wait(n) for n in range(1, self.retries + 1))
        return total if self.horizon is None else min(total, self.horizon)


S = TypeVar("S", bound=type[RetryStrategy])
_strategies: dict[str, type[RetryStrategy]] = {}


def register(strategy: S) -> S:
    """Class decorator: make ``strategy`` available by its ``name`` (replacing one of the same name)."""
    _strategies[strategy.name] = strategy
    return strategy


def names() -> list[str]:
    """The names of the registered strategies, in registration order."""
    return list(_strategies)


def build(name: str, *, base: float, cap: float, retries: int, horizon: float | None = None,
          rng: random.Random | None = None) -> RetryStrategy:
    """The strategy registered as ``name`` with these numbers. Raises ValueError for an unknown name."""
    try:
        strategy = _strategies[name]
    except KeyError:
        raise ValueError(f"unknown backoff {name!r}: one of {', '.join(names())}") from None
    return strategy(base=base, cap=cap, retries=retries, horizon=horizon, rng=rng)


def relay_policy() -> RetryStrategy:
    """The relay's policy: exponential with jitter from ``OUTBOX_BACKOFF_BASE`` to ``OUTBOX_BACKOFF_CAP``, dead
    at the ``OUTBOX_MAX_ATTEMPTS``-th failed attempt (``retry_in(attempts failed)``)."""
    return ExponentialJitter(base=outbox_settings.BACKOFF_BASE, cap=outbox_settings.BACKOFF_CAP,
                             retries=max(0, outbox_settings.MAX_ATTEMPTS - 1))


@register
class Constant(RetryStrategy):
    """The same wait every time: ``base``."""

    name = "constant"

    def wait(self, retry: int) -> float:
        return min(self.cap, self.base)


@register
class Linear(RetryStrategy):
    """``base`` more each time: ``base * n``."""

    name = "linear"

    def wait(self, retry: int) -> float:
        return min(self.cap, self.base * retry)


@register
class Exponential(RetryStrategy):
    """Doubling: ``base * 2**(n-1)``."""

    name = "exponential"

    def wait(self, retry: int) -> float:
        return min(self.cap, self.base * 2 ** min(retry - 1, MAX_EXPONENT))


@register
class ExponentialJitter(Exponential):
    """Exponential plus up to half of it again at random: jitter spreads the retries of many messages apart
    but never shortens a wait below the exponential one."""

    name = "exponential_jitter"

    def wait(self, retry: int) -> float:
        exponential = super().wait(retry)
        return exponential + (self.rng or random).uniform(0, exponential / 2)

    def longest_wait(self, retry: int) -> float:
        return 1.5 * super().wait(retry)
