"""``manage.py outbox_purge``: delete old sent, expired and discarded outbox messages, in batches."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from outbox import retention
from outbox.conf import outbox_settings
from outbox.management import cli


class Command(BaseCommand):
    help = ("Delete outbox messages that were sent, expired or discarded more than --older-than days ago, "
            "at most --batch-size rows per DELETE. Pending messages are never deleted, dead ones only with "
            "--include-dead.")

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_purge_arguments(parser, "OUTBOX_RETENTION_DAYS", outbox_settings.RETENTION_DAYS)

    def handle(self, *args: Any, **options: Any) -> None:
        progress = cli.ProgressBar(self.stdout, enabled=options["verbosity"] > 0)
        count = retention.purge(options["older_than"], include_dead=options["include_dead"], topics=options["topics"],
                                batch_size=options["batch_size"], dry_run=options["dry_run"], on_progress=progress,
                                using=options["database"])
        progress.finish()
        cli.report_purge(self.stdout, "outbox", count, options)
