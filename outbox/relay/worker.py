"""The long-running relay loop behind ``manage.py outbox_relay``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import DatabaseError, close_old_connections

from outbox.conf import outbox_settings
from outbox.exceptions import BrokerUnavailable
from outbox.relay.listener import Waiter
from outbox.relay.relay import Relay, RelayResult

logger = logging.getLogger(__name__)


class RelayWorker:
    """Drains the outbox, then waits for a NOTIFY or the poll interval, until ``stop`` is set.

    ``follow``: after a drain that found something, drain again until one finds nothing (see _drain).

    Survives a lost database or broker: logs one line, backs off, carries on. Stops after the
    batch in hand when ``stop`` is set (the command sets it on SIGTERM/SIGINT).
    """

    def __init__(self, relay: Relay, waiter: Waiter, stop: threading.Event, *, interval: float | None = None,
                 on_round: Callable[[RelayResult], None] | None = None, follow: bool = False) -> None:
        self.relay = relay
        self.waiter = waiter
        self.stop = stop
        self.interval = interval if interval is not None else outbox_settings.POLL_INTERVAL
        self.on_round = on_round
        self.follow = follow
        self._db_backoff = 0.0

    def run(self) -> None:
        logger.info("outbox relay started", extra={"action": "relay_start"})
        try:
            recheck = False
            while not self.stop.is_set():
                pause = self._round()
                if self.stop.is_set():
                    break
                if recheck:
                    # Drained at once after a wake-up; drain again one throttle window later, so that
                    # commits whose NOTIFY the producers' throttle swallowed do not wait for the poll.
                    pause = min(pause, outbox_settings.NOTIFY_THROTTLE)
                recheck = self.waiter.wait(pause)
        finally:
            self.waiter.close()
            self.relay.close()
            logger.info("outbox relay stopped", extra={"action": "relay_stop"})

    def _drain(self) -> RelayResult:
        """One drain; when following, more until one finds nothing due or ``stop`` is set.

        A relay woken by NOTIFY follows a stream of commits this way instead of waiting for wake-ups
        that the producers' throttle swallowed (one NOTIFY per ``OUTBOX_NOTIFY_THROTTLE`` per process).
        Polling only (``follow`` False) waits the interval after each drain: polling stays polling.
        """
        total = last = self.relay.drain()
        while self.follow and last.claimed and not self.stop.is_set():
            last = self.relay.drain()
            total += last
        return total

    def _round(self) -> float:
        """One drain; returns how long to wait before the next."""
        close_old_connections()
        try:
            result = self._drain()
        except BrokerUnavailable:
            return max(0.05, self.relay.breaker.remaining())
        except DatabaseError as exc:
            self._db_backoff = min(30.0, max(0.5, self._db_backoff * 2))
            logger.warning("database unavailable, retrying in %.1fs: %s", self._db_backoff, exc,
                           extra={"action": "relay_db_error"})
            return self._db_backoff
        except Exception:
            logger.exception("relay round failed", extra={"action": "relay_error"})
            return self.interval
        self._db_backoff = 0.0
        if self.on_round is not None and result.claimed:
            self.on_round(result)
        return self.interval
