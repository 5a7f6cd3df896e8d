"""``manage.py outbox_relay``: publish committed outbox messages, for deployments without Celery."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox.conf import outbox_settings
from outbox.exceptions import BrokerUnavailable, OutboxError
from outbox.management.cli import add_metrics_arguments, positive_float, positive_int, require_tables, serve_metrics
from outbox.models import OutboxMessage
from outbox.relay import Relay, RelayResult
from outbox.relay.listener import waiter_for
from outbox.relay.worker import RelayWorker


class Command(BaseCommand):
    help = ("Publish committed outbox messages to the broker. Runs until SIGTERM/SIGINT, waking on "
            "PostgreSQL NOTIFY and polling every --interval seconds; --once drains what is due and exits.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Drain what is due now, then exit.")
        parser.add_argument("--batch-size", type=positive_int, default=None,
                            help=f"Messages per round (default OUTBOX_BATCH_SIZE={outbox_settings.BATCH_SIZE}).")
        parser.add_argument("--interval", type=positive_float, default=None,
                            help=f"Seconds between polls (default OUTBOX_POLL_INTERVAL="
                                 f"{outbox_settings.POLL_INTERVAL}).")
        parser.add_argument("--no-listen", action="store_true", help="Poll only; do not LISTEN on PostgreSQL.")
        parser.add_argument("--database", default=None,
                            help="Database alias of the outbox (default: where the database router writes it).")
        add_metrics_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        serve_metrics(options, self.stdout)  # first: it checks its options before anything is read
        require_tables(OutboxMessage, using=options["database"])
        relay = Relay(using=options["database"], batch_size=options["batch_size"])
        if options["once"]:
            self._once(relay)
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        # relay.using, not the option: without --database the relay has resolved the router's write alias.
        waiter = waiter_for(relay.using, outbox_settings.NOTIFY_CHANNEL, stop, not options["no_listen"])
        verbosity = options["verbosity"]
        worker = RelayWorker(relay, waiter, stop, interval=options["interval"],
                             on_round=(lambda r: self._report(r)) if verbosity > 1 else None,
                             follow=not options["no_listen"])
        self.stdout.write("outbox relay running; Ctrl-C or SIGTERM stops it after the batch in hand")
        worker.run()

    def _once(self, relay: Relay) -> None:
        try:
            result = relay.drain()
        except BrokerUnavailable as exc:
            raise CommandError(f"broker unavailable, nothing more was sent: {exc}") from exc
        except OutboxError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            relay.close()
        self._report(result)

    def _report(self, result: RelayResult) -> None:
        self.stdout.write(f"sent {result.sent}, retrying {result.retried}, dead {result.dead}, "
                          f"expired {result.expired}, released {result.released}"
                          + (f", lease lost {result.lost}" if result.lost else ""))

