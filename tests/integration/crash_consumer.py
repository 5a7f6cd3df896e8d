"""An inbox consumer process that dies in a crash window: ``python -m tests.integration.crash_consumer <window>``.

Windows: ``after-commit`` (the handler's transaction committed, the broker message not yet acknowledged) and
``in-handler`` (the handler wrote its effect, nothing committed). The process ends with ``os._exit(17)``: no
cleanup, no ``finally``, no connection close, as when the process is SIGKILLed. Reads DJANGO_SETTINGS_MODULE,
DATABASE_URL and BROKER_URL (through the settings), TEST_OUTBOX_EXCHANGE and TEST_INBOX_QUEUE.
"""

from __future__ import annotations

import os
import sys
from typing import Any

CRASH_EXIT_CODE = 17
HANDLER = "crash-window-record"
TOPIC = "orders.*"


def record(message: Any) -> None:
    """The handler under test, registered under the same name here and in the test process."""
    from tests.testapp.models import Effect

    Effect.objects.create(handler=HANDLER, message_id=message.id, value=message.payload)


def _die(*args: Any, **kwargs: Any) -> None:
    os._exit(CRASH_EXIT_CODE)


def _record_then_die(message: Any) -> None:
    record(message)
    _die()


def main(window: str) -> None:
    import django

    django.setup()
    from django.conf import settings
    from kombu.message import Message

    from inbox.consumer import InboxConsumer
    from inbox.registry import handler

    settings.OUTBOX_EXCHANGE = os.environ["TEST_OUTBOX_EXCHANGE"]
    settings.INBOX_QUEUE = os.environ["TEST_INBOX_QUEUE"]
    if window == "after-commit":
        handler(TOPIC, name=HANDLER)(record)
        Message.ack = _die  # type: ignore[method-assign]  # the consumer acks only after the commit
    elif window == "in-handler":
        handler(TOPIC, name=HANDLER)(_record_then_die)
    else:
        raise SystemExit(f"unknown crash window {window!r}")
    InboxConsumer().run(once=True, idle_timeout=5.0)
    raise SystemExit("the consumer returned instead of crashing")


if __name__ == "__main__":
    main(sys.argv[1])
