"""``manage.py demo``: run the seeds' scenarios end to end and print the timeline and the tally."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo_project.demo.driver import DemoTimeout
from demo_project.demo.runner import DemoError, run_demo


class Command(BaseCommand):
    help = ("Run the demo scenarios (password change, hotel booking, price alerts over a flaky mail service): "
            "relay and consumers in this process by default; --drive-only writes the events and lets the "
            "processes of scripts/run_services.sh do the work. Exits with an error if the tally finds a "
            "message lost or applied twice.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--drive-only", action="store_true",
                            help="Only write the scenarios' events and wait for the outcome in the database.")
        parser.add_argument("--json", action="store_true", help="Print the tally as JSON on the last line.")
        parser.add_argument("--timeout", type=float, default=None,
                            help="Seconds to wait for each step (default 20, 90 with --drive-only).")

    def handle(self, *args: Any, **options: Any) -> None:
        timeout = options["timeout"] or (90.0 if options["drive_only"] else 20.0)
        try:
            result = run_demo(self.stdout.write, drive_only=options["drive_only"], timeout=timeout,
                              verbose=options["verbosity"] > 1)
        except (DemoError, DemoTimeout) as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result, default=str))
        if not result["ok"]:
            raise CommandError("the tally found a problem: see the lines marked PROBLEM and the check line")
