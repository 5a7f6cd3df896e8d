"""``manage.py messaging_status``: the health of the outbox and the inbox, for people and for probes."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox import status, status_text
from outbox.management.cli import require_tables
from outbox.models import OutboxMessage

STUCK_EXIT = 2


class Command(BaseCommand):
    help = ("Show counts by status, the oldest unfinished message, recent dead messages, dead message groups, "
            "circuit breakers and stuck messages of the outbox and (when installed) the inbox.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON document instead of text.")
        parser.add_argument("--fail-if-stuck", action="store_true",
                            help=f"Exit with status {STUCK_EXIT} when a message is stuck (outbox: pending past "
                                 f"OUTBOX_STUCK_AFTER or its lease expired; inbox: waiting past "
                                 f"INBOX_STUCK_AFTER), for health probes.")
        parser.add_argument("--database", default="default", help="Database alias.")

    def handle(self, *args: Any, **options: Any) -> None:
        require_tables(OutboxMessage, using=options["database"])
        report = status.collect(using=options["database"], unrouted=True)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        else:
            self.stdout.write("\n".join(status_text.report_lines(report)))
        if options["fail_if_stuck"] and report.stuck:
            raise CommandError(f"stuck: {report.stuck} message(s) ({status_text.stuck_text(report)})",
                               returncode=STUCK_EXIT)
