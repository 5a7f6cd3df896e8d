"""``manage.py inbox_replay``: re-queue dead, waiting or blocked inbox messages for their handlers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox import bulk
from inbox.models import Status
from inbox.selection import InboxSelection
from outbox.exceptions import OutboxError
from outbox.management import cli


class Command(BaseCommand):
    help = ("Re-queue dead, waiting or blocked inbox messages: due now, with a fresh set of retries, run by the "
            "inbox_consume workers; a blocked message only once nothing is ahead of it in its key. Needs a "
            "filter, or --all.")

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_selection_arguments(parser, Status.values, "Without it: dead, waiting and blocked.", inbox=True)
        cli.add_run_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        selection = cli.selection_from(options, InboxSelection)
        progress = cli.ProgressBar(self.stdout, enabled=options["verbosity"] > 0)
        try:
            count = bulk.requeue(selection, batch_size=options["batch_size"], rate=options["rate"],
                                 dry_run=options["dry_run"], on_progress=progress, actor="inbox_replay command",
                                 using=options["database"])
        except OutboxError as exc:
            raise CommandError(str(exc)) from exc
        progress.finish()
        if options["dry_run"]:
            self.stdout.write(f"dry run: would re-queue {count} inbox message(s); nothing changed")
        else:
            self.stdout.write(f"re-queued {count} inbox message(s)")
