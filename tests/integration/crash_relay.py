"""A relay process that dies in a crash window: ``python -m tests.integration.crash_relay <window>``.

Windows: ``after-publish`` (the broker confirmed, the row is not yet marked sent) and ``after-claim``
(claimed and leased, nothing published). The process ends with ``os._exit(17)``: no cleanup, no
``finally``, no connection close, as when the process is SIGKILLed. Reads DJANGO_SETTINGS_MODULE,
DATABASE_URL, BROKER_URL (through the demo settings) and TEST_OUTBOX_EXCHANGE.
"""

from __future__ import annotations

import os
import sys
from typing import Any

CRASH_EXIT_CODE = 17


def _die(*args: Any, **kwargs: Any) -> None:
    os._exit(CRASH_EXIT_CODE)


def main(window: str) -> None:
    import django

    django.setup()
    from django.conf import settings

    from outbox.relay import Relay

    settings.OUTBOX_EXCHANGE = os.environ["TEST_OUTBOX_EXCHANGE"]
    settings.OUTBOX_LEASE_SECONDS = 60.0  # the test ends the lease itself (expire_leases), never by waiting
    if window == "after-publish":
        Relay._record = _die  # type: ignore[method-assign]
    elif window == "after-claim":  # drain() sends through _take_off, run_once() through _publish
        Relay._take_off = _die  # type: ignore[method-assign]
        Relay._publish = _die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash window {window!r}")
    Relay().drain()
    raise SystemExit("the relay returned instead of crashing")


if __name__ == "__main__":
    main(sys.argv[1])
