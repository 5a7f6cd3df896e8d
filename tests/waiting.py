"""Waiting for a condition with a deadline, for the few events a test cannot await directly (a row changing
in another process or thread, a LISTEN session appearing)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float = 5.0, interval: float = 0.02,
               what: str = "the condition") -> None:
    """Return as soon as ``condition()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
