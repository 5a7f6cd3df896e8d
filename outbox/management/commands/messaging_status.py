"""``manage.py messaging_status``: the health of the outbox and the inbox, for people and for probes."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox import status, topology
from outbox.conf import outbox_settings
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
            self.stdout.write("\n".join(_text(report)))
        if options["fail_if_stuck"] and report.stuck:
            raise CommandError(f"stuck: {report.stuck} message(s) (outbox {report.outbox.stuck}, inbox "
                               f"{report.inbox.stuck if report.inbox else 0})", returncode=STUCK_EXIT)


def _text(report: status.MessagingStatus) -> list[str]:
    out = report.outbox
    lines = [f"outbox: {_counts(out.counts)}",
             f"  oldest pending: {_age(out.oldest_pending_age)}; dead in the last hour: {out.dead_last_hour}; "
             f"stuck: {out.stuck} (pending over {outbox_settings.STUCK_AFTER:g}s or lease expired)"]
    if report.unrouted is not None:
        lines.append(f"  unrouted: {report.unrouted} message(s) kept in queue "
                     f"{topology.unrouted_name(outbox_settings.EXCHANGE)!r} (no binding matched them when "
                     f"published; docs/operations.md says how to replay them)")
    if report.inbox is not None:
        lines += [f"inbox: {_counts(report.inbox.counts)}",
                  f"  oldest waiting: {_age(report.inbox.oldest_waiting_age)}; dead in the last hour: "
                  f"{report.inbox.dead_last_hour}; stuck: {report.inbox.stuck}; blocked, releasable: "
                  f"{report.inbox.releasable} (released by the retry poller's self-healing)"]
        lines += _section("dead groups", [_group(g) for g in report.dead_groups])
    return lines + _section("breakers", [_breaker(b) for b in report.breakers])


def _section(title: str, rows: list[str]) -> list[str]:
    return [f"{title}:", *rows] if rows else [f"{title}: none"]


def _group(group: status.DeadGroup) -> str:
    return (f"  {group.error_group or '-'}  x{group.count}  {group.handler or '(no handler)'}  {group.error_type}  "
            f"first {_when(group.first_seen)}  last {_when(group.last_seen)}")


def _breaker(breaker: status.Breaker) -> str:
    reason = f" - {breaker.reason[:100]}" if breaker.reason else ""
    if breaker.stale:
        return (f"  {breaker.name}: unknown (last seen {breaker.state} at {_when(breaker.updated_at)}, not refreshed "
                f"since: its process stopped or went idle){reason}")
    return f"  {breaker.name}: {breaker.state} ({breaker.failures} failures) since {_when(breaker.changed_at)}{reason}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "empty"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _when(moment: Any) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"
