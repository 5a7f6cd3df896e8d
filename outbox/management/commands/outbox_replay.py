"""``manage.py outbox_replay``: re-queue dead or pending outbox messages, or republish sent ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox import bulk
from outbox.exceptions import OutboxError
from outbox.management import cli
from outbox.models import Status


class Command(BaseCommand):
    help = ("Re-queue dead or pending outbox messages (due now, attempts reset), or with --sent publish sent "
            "messages again with the same message id. Needs a filter, or --all.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sent", action="store_true",
                            help="Republish sent messages (consumers' inboxes drop them as duplicates unless "
                                 "their retention has passed).")
        cli.add_selection_arguments(parser, Status.values, "Without it: dead and pending (sent with --sent).",
                                    inbox=False)
        cli.add_run_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        selection = cli.selection_from(options)
        progress = cli.ProgressBar(self.stdout, enabled=options["verbosity"] > 0)
        try:
            count = bulk.requeue(selection, sent=options["sent"], batch_size=options["batch_size"],
                                 rate=options["rate"], dry_run=options["dry_run"], on_progress=progress,
                                 using=options["database"])
        except OutboxError as exc:
            raise CommandError(str(exc)) from exc
        progress.finish()
        verb, done = ("republish", "republished") if options["sent"] else ("re-queue", "re-queued")
        if options["dry_run"]:
            self.stdout.write(f"dry run: would {verb} {count} outbox message(s); nothing changed")
        else:
            self.stdout.write(f"{done} {count} outbox message(s)")
