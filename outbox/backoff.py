"""Back-off strategies shared by the relay and the inbox: how long to wait before attempt n+1."""

from __future__ import annotations

import random
from enum import Enum


class Strategy(str, Enum):
    CONSTANT = "constant"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"
    EXPONENTIAL_JITTER = "exponential_jitter"


def delay(strategy: Strategy | str, attempt: int, base: float, cap: float,
          rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first failure).

    constant: base; linear: base * attempt; exponential: base * 2**(attempt-1); all capped at ``cap``.
    exponential_jitter adds up to half of the exponential delay at random on top of it: jitter
    spreads retries of many messages apart but never shortens a delay below the exponential one.
    """
    strategy = Strategy(strategy)
    attempt = max(1, attempt)
    if strategy is Strategy.CONSTANT:
        return min(cap, base)
    if strategy is Strategy.LINEAR:
        return min(cap, base * attempt)
    exponential = min(cap, base * 2 ** min(attempt - 1, 62))
    if strategy is Strategy.EXPONENTIAL:
        return exponential
    return exponential + (rng or random).uniform(0, exponential / 2)
