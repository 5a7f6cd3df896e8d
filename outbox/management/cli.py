"""What the operator commands share: argument types with clear errors, the selection filters, the
``--all`` guard, and a text progress bar. Commands only parse, call one library function and print."""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.db import DatabaseError, connections
from django.db.models import Model

from outbox.bulk import Progress
from outbox.operations import DEFAULT_BATCH
from outbox.routing import model_write_alias
from outbox.selection import Selection, parse_when

logger = logging.getLogger(__name__)


def require_tables(*models: type[Model], using: str | None = None) -> None:
    """Stop the command with what to do when a model's table is not in its database (``migrate`` not run yet);
    otherwise its first query fails deep inside with 'relation ... does not exist'. ``using`` None: each
    model's write alias."""
    for model in models:
        alias = using or model_write_alias(model)
        table = model._meta.db_table
        try:
            tables = connections[alias].introspection.table_names()
        except DatabaseError as exc:
            # The database is down (restarting, unreachable): nothing to tell yet. The long-running relay and
            # consumer ride out an outage by themselves; a worker restarted during one must not exit over it.
            logger.warning("cannot check the %s table now (%s): going on", table, exc,
                           extra={"action": "require_tables_skipped"})
            continue
        if table not in tables:
            raise CommandError(f"table {table} is missing from database {alias!r}: run `python manage.py migrate` "
                               f"first (it creates the outbox and inbox tables)")


def positive_int(text: str) -> int:
    """An integer of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def positive_float(text: str) -> float:
    """A number above 0 (argparse type)."""
    return _float(text, lambda value: value > 0, "a number above 0")


def rate(text: str) -> float | None:
    """A rate above 0 per second; ``inf`` means no limit (None) (argparse type)."""
    value = _float(text, lambda value: value > 0, "a number above 0 (or inf for no limit)")
    return None if math.isinf(value) else value


def non_negative_float(text: str) -> float:
    """A number of 0 or more (argparse type)."""
    return _float(text, lambda value: value >= 0, "a number of 0 or more")


def _float(text: str, valid: Callable[[float], bool], expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}")
    return value


def when(text: str) -> Any:
    """An ISO datetime or a relative age like ``2h`` (argparse type)."""
    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def status_of(choices: Sequence[str]) -> Callable[[str], str]:
    """An argparse type accepting one of ``choices``, with a message that lists them."""
    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"unknown status {text!r} (choose from {', '.join(choices)})")
        return text

    parse.__name__ = "status"
    return parse


def add_selection_arguments(parser: CommandParser, statuses: Sequence[str], status_help: str, *,
                            inbox: bool) -> None:
    """``--id --topic --key --status [--handler --error-group] --since --until --all``; all repeatable."""
    ids = "Wire message id" if inbox else "Message id (UUID)"
    parser.add_argument("--id", action="append", default=[], dest="ids", metavar="ID", help=f"{ids}; repeatable.")
    parser.add_argument("--topic", action="append", default=[], dest="topics", metavar="TOPIC",
                        help="Topic; repeatable.")
    parser.add_argument("--key", action="append", default=[], dest="keys", metavar="KEY",
                        help="Ordering key; repeatable.")
    parser.add_argument("--status", action="append", default=[], dest="statuses", type=status_of(statuses),
                        metavar="STATUS", help=f"Only this status; repeatable. {status_help}")
    if inbox:
        parser.add_argument("--handler", action="append", default=[], dest="handlers", metavar="NAME",
                            help="Handler name; repeatable.")
        parser.add_argument("--error-group", action="append", default=[], dest="error_groups", metavar="GROUP",
                            help="Error group of dead messages (see messaging_status); repeatable.")
    field = "received" if inbox else "created"
    parser.add_argument("--since", type=when, metavar="WHEN",
                        help=f"{field.title()} at or after: ISO datetime or an age (2h, 3d).")
    parser.add_argument("--until", type=when, metavar="WHEN",
                        help=f"{field.title()} before: ISO datetime or an age (2h, 3d).")
    parser.add_argument("--all", action="store_true", dest="select_all",
                        help="Act on every matching message of the statuses; required when no filter is given.")


def add_run_arguments(parser: CommandParser) -> None:
    """``--dry-run --batch-size --rate --database`` for commands that change many rows."""
    parser.add_argument("--dry-run", action="store_true", help="Count what would change; change nothing.")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH, metavar="N",
                        help=f"Rows per batch (default {DEFAULT_BATCH}).")
    parser.add_argument("--rate", type=rate, default=None, metavar="N",
                        help="At most this many messages per second (pauses between batches of at most "
                             "one second's worth); inf for no limit, the default.")
    parser.add_argument("--database", default="default", help="Database alias.")


def selection_from(options: dict[str, Any], kind: type[Selection] = Selection) -> Selection:
    """The ``kind`` of :class:`Selection` (the inbox passes its own) of parsed options; raises CommandError
    when nothing narrows it and ``--all`` was not given (or was given together with filters)."""
    given = {field.name: options.get(field.name) for field in fields(kind)}
    values: dict[str, Any] = {name: tuple(value) if isinstance(value, list) else value
                              for name, value in given.items() if value is not None}
    selection = kind(**values)
    if selection.is_empty and not options["select_all"]:
        raise CommandError(f"no filter given: pass {_filter_names(options)} (or --all to act on every message)")
    if options["select_all"] and not selection.is_empty:
        raise CommandError("--all cannot be combined with filters: drop --all, or the filters")
    return selection


def _filter_names(options: dict[str, Any]) -> str:
    """The filters this command takes, for its error message (the inbox's add --handler and --error-group)."""
    names = ["--id", "--topic", "--key", "--status"]
    if "handlers" in options:
        names += ["--handler", "--error-group"]
    return ", ".join([*names, "--since"]) + " or --until"


class ProgressBar:
    """``[#####-----]  500/1000`` redrawn in place after each batch; silent when ``enabled`` is False."""

    def __init__(self, stdout: OutputWrapper, enabled: bool = True, width: int = 30) -> None:
        self.stdout = stdout
        self.enabled = enabled
        self.width = width
        self.drawn = False

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        filled = min(self.width, self.width * progress.done // max(progress.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stdout.write(f"\r[{bar}] {progress.done}/{progress.total}", ending="")
        self.stdout.flush()
        self.drawn = True

    def finish(self) -> None:
        """End the bar's line (if one was drawn)."""
        if self.drawn:
            self.stdout.write("")


def add_purge_arguments(parser: CommandParser, retention_setting: str, default_days: float) -> None:
    """``--older-than --include-dead --topic --batch-size --dry-run --database`` of the purge commands."""
    parser.add_argument("--older-than", type=non_negative_float, default=None, metavar="DAYS",
                        help=f"Age in days (default {retention_setting}={default_days:g}).")
    parser.add_argument("--include-dead", action="store_true", help="Delete old dead messages too (kept by default).")
    parser.add_argument("--topic", action="append", default=[], dest="topics", metavar="TOPIC",
                        help="Only this topic; repeatable.")
    parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH, metavar="N",
                        help=f"Rows per DELETE (default {DEFAULT_BATCH}).")
    parser.add_argument("--database", default="default", help="Database alias.")


def report_purge(stdout: OutputWrapper, app: str, count: int, options: dict[str, Any]) -> None:
    """The purge commands' last line."""
    if options["dry_run"]:
        stdout.write(f"dry run: would delete {count} {app} message(s); nothing deleted")
    else:
        stdout.write(f"deleted {count} {app} message(s)")


#: Where ``--metrics-port`` listens unless ``--metrics-host`` says otherwise: this machine only.
METRICS_HOST = "127.0.0.1"


def add_metrics_arguments(parser: CommandParser) -> None:
    """``--metrics-port --metrics-host`` of the long-running workers (relay, consumer)."""
    parser.add_argument("--metrics-port", type=positive_int, default=None, metavar="PORT",
                        help="Serve Prometheus metrics on this port (needs prometheus_client).")
    parser.add_argument("--metrics-host", default=None, metavar="ADDR",
                        help=f"Address the metrics server listens on (default {METRICS_HOST}, this machine "
                             "only). It asks for no credentials: any client that reaches another address "
                             "(0.0.0.0: every interface) can read the metrics.")


def serve_metrics(options: dict[str, Any], stdout: OutputWrapper) -> None:
    """``--metrics-port`` and ``--metrics-host``: serve Prometheus metrics from this process (nothing when
    no port was given). Raises CommandError for a host without a port, without prometheus_client, or when
    the address cannot be bound."""
    port, host = options["metrics_port"], options["metrics_host"]
    if port is None:
        if host is not None:
            raise CommandError("--metrics-host needs --metrics-port")
        return
    from outbox import metrics

    host = host or METRICS_HOST
    try:
        metrics.serve(port, host)
    except (ImportError, OSError) as exc:
        raise CommandError(f"cannot serve metrics on {host} port {port}: {exc}") from exc
    shown = f"[{host}]" if ":" in host else host
    stdout.write(f"metrics on http://{shown}:{port}/metrics")
