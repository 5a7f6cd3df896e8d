"""``manage.py inbox_consume``: the consumer worker of this service's inbox."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox.conf import inbox_settings
from inbox.consumer import InboxConsumer
from inbox.exceptions import InboxError
from inbox.models import InboxMessage
from inbox.registry import registry
from outbox.management.cli import add_metrics_arguments, require_tables, serve_metrics
from outbox.models import OutboxMessage


class Command(BaseCommand):
    help = ("Consume this service's queue: apply each message once per handler, run delayed retries, "
            "record bad messages as dead. Stops after the message in hand on SIGTERM/SIGINT.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true",
                            help="Process what is in the queue and what is due for retry, then exit.")
        parser.add_argument("--queue", default=None, help=f"Queue name (default INBOX_QUEUE={inbox_settings.QUEUE}).")
        parser.add_argument("--prefetch", type=int, default=None,
                            help=f"Unacknowledged messages in hand (default INBOX_PREFETCH={inbox_settings.PREFETCH}).")
        parser.add_argument("--idle-timeout", type=float, default=1.0,
                            help="With --once: seconds without a delivery that count as an empty queue.")
        add_metrics_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if not registry.all():
            raise CommandError("no handlers registered: decorate functions with @inbox.handler in an app's "
                               "handlers.py")
        if options["prefetch"] is not None and options["prefetch"] < 1:
            raise CommandError("--prefetch must be at least 1")
        serve_metrics(options, self.stdout)
        require_tables(InboxMessage, OutboxMessage)  # the outbox too: handlers and faults publish through it
        stop = threading.Event()
        if not options["once"]:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: stop.set())
        try:
            consumer = InboxConsumer(queue=options["queue"], prefetch=options["prefetch"], stop=stop)
        except InboxError as exc:
            raise CommandError(str(exc)) from exc
        names = ", ".join(sorted(spec.name for spec in registry.all()))
        self.stdout.write(f"consuming {consumer.queue_name} for {len(registry.all())} handler(s): {names}")
        try:
            stats = consumer.run(once=options["once"], idle_timeout=options["idle_timeout"])
        except InboxError as exc:  # e.g. a queue of another type than INBOX_QUEUE_TYPE: the message says what to do
            raise CommandError(str(exc)) from exc
        summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())) or "nothing"
        self.stdout.write(f"processed: {summary}; delayed retries run: {stats.retries_run}")
