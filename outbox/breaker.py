"""A circuit breaker: stop calling something that keeps failing, probe it after a cool-down.

closed → (``threshold`` consecutive failures, or a failure ``rate`` over the last ``window`` calls)
→ open → (cool-down elapsed) → half-open: one probe
→ success closes it, failure opens it again with a doubled cool-down (up to ``cooldown_cap``).
State changes are logged once each, not once per call.

A failure may name what failed (``key``, e.g. a message id): while closed, a key that failed recently
(among the last ``max(window, threshold)`` counted failures) counts once, so one poison message retried
again and again is not taken for an outage; failures of different messages are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum

logger = logging.getLogger(__name__)


class State(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Thread-safe breaker. ``allow()`` before a call, then ``success()`` or ``failure(reason)``."""

    def __init__(self, name: str, *, threshold: int = 1, cooldown: float = 1.0, cooldown_cap: float = 30.0,
                 window: int = 0, rate: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[CircuitBreaker], None] | None = None) -> None:
        self.name = name
        self.threshold = threshold
        self.rate = rate
        self.recent: deque[bool] = deque(maxlen=window or None)  # True = failure, over the last `window` calls
        self.window = window
        self.base_cooldown = cooldown
        self.cooldown_cap = cooldown_cap
        self.state = State.CLOSED
        self.failures = 0
        self.cooldown = cooldown
        self.opened_at = 0.0
        self.last_reason = ""
        self.failed_keys: deque[str] = deque(maxlen=max(window, threshold, 1))  # keys of recent counted failures
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """True when a call may go ahead (closed, or the one probe of half-open)."""
        with self._lock:
            if self.state is State.CLOSED:
                return True
            if self.state is State.OPEN and self._clock() - self.opened_at >= self.cooldown:
                self._move(State.HALF_OPEN)
                return True
            return False

    def remaining(self) -> float:
        """Seconds until the next probe is allowed; 0 when closed."""
        if self.state is State.CLOSED:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - self.opened_at))

    def success(self) -> None:
        with self._lock:
            self.recent.append(False)
            self.failures = 0
            self.cooldown = self.base_cooldown
            if self.state is not State.CLOSED:
                self._move(State.CLOSED)

    def failure(self, reason: str = "", key: str | None = None) -> None:
        """Count a failed call; a repeated ``key`` counts once while closed (see the module's docstring)."""
        with self._lock:
            if key is not None and self.state is State.CLOSED:
                if key in self.failed_keys:
                    self.last_reason = reason
                    return
                self.failed_keys.append(key)
            self.failures += 1
            self.recent.append(True)
            self.last_reason = reason
            if self.state is State.HALF_OPEN:
                self.cooldown = min(self.cooldown_cap, self.cooldown * 2)
                self._open()
            elif self.state is State.CLOSED and (self.failures >= self.threshold or self._rate_exceeded()):
                self._open()

    def _rate_exceeded(self) -> bool:
        """Failure rate over the last ``window`` calls, once the window is full (0 disables it)."""
        if not self.window or len(self.recent) < self.window:
            return False
        return sum(self.recent) / len(self.recent) >= self.rate

    def _open(self) -> None:
        self.opened_at = self._clock()
        self.recent.clear()
        self._move(State.OPEN)

    def _move(self, state: State) -> None:
        self.state = state
        if state is State.OPEN:
            logger.warning("circuit %s open after %d failure(s), next probe in %.1fs: %s", self.name,
                           self.failures, self.cooldown, self.last_reason,
                           extra={"action": "breaker_open", "breaker": self.name})
        else:
            logger.info("circuit %s %s", self.name, state.value,
                        extra={"action": f"breaker_{state.value}", "breaker": self.name})
        if self._on_change is not None:
            self._on_change(self)
