"""``manage.py inbox_purge``: delete old finished inbox rows (the deduplication window), in batches."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from inbox import retention
from inbox.conf import inbox_settings
from outbox.management import cli


class Command(BaseCommand):
    help = ("Delete inbox rows that finished (done, expired, skipped, discarded) and were received more than "
            "--older-than days ago, at most --batch-size rows per DELETE. Waiting and blocked rows are never "
            "deleted, dead ones only with --include-dead. A duplicate arriving after its row is gone runs again.")

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_purge_arguments(parser, "INBOX_RETENTION_DAYS", inbox_settings.RETENTION_DAYS)
        parser.add_argument("--handler", action="append", default=[], dest="handlers", metavar="NAME",
                            help="Only this handler's rows; repeatable.")

    def handle(self, *args: Any, **options: Any) -> None:
        progress = cli.ProgressBar(self.stdout, enabled=options["verbosity"] > 0)
        count = retention.purge(options["older_than"], include_dead=options["include_dead"], topics=options["topics"],
                                handlers=options["handlers"], batch_size=options["batch_size"],
                                dry_run=options["dry_run"], on_progress=progress, using=options["database"])
        progress.finish()
        cli.report_purge(self.stdout, "inbox", count, options)
