"""``manage.py demo``: the scenarios, the timeline, the tally, and where to look next."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from demo_project.demo import setup, tally
from demo_project.demo.driver import Driver, Services
from demo_project.demo.labels import Labels
from demo_project.demo.scenarios import SCENARIOS
from demo_project.demo.services import ExternalServices, InProcessServices, library_logs_in_timeline
from demo_project.demo.timeline import EventBuffer, Timeline
from demo_project.demo.watch import Watcher
from outbox.conf import outbox_settings

#: In-process timings, so that the scenarios take seconds: breaker cool-down (doubling on each failed
#: probe) and the relay's back-off. The handlers' own retry delays are in their decorators.
FAST = {"INBOX_BREAKER_COOLDOWN": 0.25, "INBOX_BREAKER_FAILURES": 5, "INBOX_BREAKER_WINDOW": 20,
        "INBOX_BREAKER_RATE": 0.5, "OUTBOX_BACKOFF_BASE": 0.05, "OUTBOX_CELERY_ON_COMMIT": False}


class DemoError(Exception):
    """The demo cannot run as asked."""


def run_demo(write: Callable[[str], None], *, drive_only: bool = False, timeout: float = 20.0,
             verbose: bool = False) -> dict[str, Any]:
    """Run every scenario, print the timeline and the tally; returns the tally as a dict (see tally.as_json)."""
    clock = time.monotonic()
    broker = str(outbox_settings.BROKER_URL or "")
    if drive_only and broker.startswith("memory://"):
        raise DemoError("--drive-only needs a broker the worker processes share: set BROKER_URL=amqp://...")
    _introduce(write, broker, drive_only)
    buffer, labels = EventBuffer(), Labels()
    watcher = Watcher(labels, polled=drive_only)
    timeline = Timeline(write, timezone.now())
    with _timings(drive_only), library_logs_in_timeline(buffer, verbose=verbose):
        services: Services = ExternalServices() if drive_only else InProcessServices(buffer, labels, watcher)
        driver = Driver(timeline, services, buffer, labels, watcher, timeout=timeout,
                        quiet_period=1.5 if drive_only else 0.0)
        try:
            _scenarios(driver)
            duplicates = services.duplicates()
        finally:
            services.close()
    tallies = [tally.count(s, driver.redelivered[s.KEY], duplicates) for s in SCENARIOS]
    seconds = time.monotonic() - clock
    _print_tally(write, tallies, seconds)
    _print_admin_hint(write)
    return tally.as_json(tallies, seconds, "drive-only" if drive_only else "in-process")


def _introduce(write: Callable[[str], None], broker: str, drive_only: bool) -> None:
    setup.migrate_provider()
    cleared = setup.clear_previous_run()
    purged = 0 if drive_only or broker.startswith("memory://") else setup.purge_queues(broker)
    created = setup.ensure_admin()
    who = ("the relay, consumer and Celery processes of scripts/run_services.sh do the work" if drive_only else
           "the relay, the inbox consumer and the Celery task runner work in this process")
    write("django-outbox-inbox demo: the seeds' scenarios, end to end")
    write(f"  database {setup.database_description()} · broker {_safe(broker)}")
    write(f"  {who}; times are seconds since the first scenario began")
    write(f"  cleared {cleared} row(s) of a previous run" + (f", {purged} queued message(s)" if purged else "")
          + ("; created the admin user admin/admin" if created else ""))


def _scenarios(driver: Driver) -> None:
    for scenario in SCENARIOS:
        driver.timeline.heading(scenario.TITLE, scenario.STORY)
        scenario.run(driver)
        driver.flush()


def _timings(drive_only: bool) -> AbstractContextManager[Any]:
    """FAST in-process; with ``--drive-only`` the worker processes use their own settings (docs/demo.md)."""
    return nullcontext() if drive_only else override_settings(**FAST)


def _print_tally(write: Callable[[str], None], tallies: list[tally.ScenarioTally], seconds: float) -> None:
    write("")
    write("── Tally, counted from the database")
    for t in tallies:
        write(f"   {t.title.partition(':')[0]} ({t.key})")
        for line in tally.lines(t):
            write(f"      {line}")
    summary = tally.as_json(tallies, seconds, "")
    verdict = "nothing lost, nothing applied twice" if summary["ok"] else "PROBLEMS, see above"
    write("")
    write(f"   check: lost: {summary['lost']}, applied twice: {summary['applied_twice']}, still dead: "
          f"{summary['dead']} — {verdict}")
    write(f"   finished in {seconds:.1f} s")


def _print_admin_hint(write: Callable[[str], None]) -> None:
    default = str(settings.DATABASES["default"]["NAME"])
    same = "" if default == str(settings.BASE_DIR / "demo.sqlite3") else " (with the same DATABASE_URL)"
    write("")
    write(f"Open the admin on the same data{same}, user admin, password admin:")
    write("   .venv/bin/python manage.py runserver")
    write("   then http://127.0.0.1:8000/admin/")


def _safe(url: str) -> str:
    """The broker URL without its password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{credentials.partition(':')[0]}{at}{host}" if at else url
