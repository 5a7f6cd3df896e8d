"""``make demo`` on a fresh machine: migrate a new SQLite database, run ``manage.py demo`` on the
in-memory broker, and check the tally it prints (readable lines and the JSON last line agree)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.acceptance]

REPO = Path(__file__).resolve().parents[2]
#: What demo_project/settings.py reads from the environment besides the two URLs set below.
SETTINGS_ENV = ("DATABASE_URL", "BROKER_URL", "MAIL_PROVIDER_DATABASE_URL", "OUTBOX_CELERY_ON_COMMIT", "INBOX_QUEUE",
                "LOG_LEVEL")
CHECK_LINE = re.compile(r"check: lost: (\d+), applied twice: (\d+), still dead: (\d+)")


def run(args: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The demo's output and its JSON tally, from one run on a fresh database."""
    database = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_ENV}
    env.update(DJANGO_SETTINGS_MODULE="demo_project.settings", DATABASE_URL=f"sqlite:///{database}",
               BROKER_URL="memory://")
    run(["migrate", "--verbosity", "0"], env, timeout=60)
    output = run(["demo", "--json"], env, timeout=120)
    assert database.with_name("demo-mailprovider.sqlite3").exists()
    return output, json.loads(output.strip().splitlines()[-1])


def test_demo__fresh_database__nothing_lost_nothing_applied_twice(demo):
    output, tally = demo
    lost, twice, dead = map(int, CHECK_LINE.search(output).groups())

    assert (lost, twice, dead) == (0, 0, 0)
    assert (tally["ok"], tally["lost"], tally["applied_twice"], tally["dead"]) == (True, 0, 0, 0)
    assert tally["mode"] == "in-process"
    assert tally["seconds"] < 60


def test_demo__password_change__each_consumer_applies_it_once_and_the_duplicate_is_dropped(demo):
    passwords = demo[1]["scenarios"]["passwords"]

    assert passwords["committed"] == 2  # bob's change crashed before its commit: no event
    assert passwords["applied"] == {"accounts.password-history": 2, "accounts.security-email": 2}
    assert (passwords["redelivered"], passwords["duplicates_suppressed"]) == (1, 2)
    assert passwords["numbers"]["password_changes_rolled_back"] == 1
    assert passwords["numbers"]["emails_sent"] == 2
    assert passwords["numbers"]["provider_duplicates"] == 1  # the retry after the lost response


def test_demo__hotel_booking__business_failures_are_compensated_without_retries(demo):
    booking = demo[1]["scenarios"]["booking"]

    assert booking["refused"] == 2
    assert booking["applied"]["frontdesk.compensate"] == 2
    assert booking["applied"]["celery:hotel.issue_invoice"] == 1
    assert booking["duplicates_suppressed"] == 1  # the invoice task, sent again
    numbers = booking["numbers"]
    assert (numbers["confirmed"], numbers["rejected"], numbers["pending"]) == (1, 2, 0)
    assert (numbers["holds_released"], numbers["rooms_booked"], numbers["invoices"]) == (1, 1, 1)
    assert numbers["business_failures_retried"] == 0


def test_demo__price_alerts__breaker_dead_letter_replay_and_expiry(demo):
    output, tally = demo
    alerts = tally["scenarios"]["alerts"]

    assert alerts["committed"] == 9
    assert alerts["applied"] == {"alerts.send-price-alert": 8}
    assert alerts["expired"] == 1
    assert alerts["dead_then_replayed"] == 1
    assert alerts["numbers"]["breaker_now"] == "closed"
    for shown in ("circuit OPEN", "circuit HALF-OPEN", "circuit CLOSED", "will retry in", "dead-lettered",
                  "operator retry", "expired"):
        assert shown in output, shown
