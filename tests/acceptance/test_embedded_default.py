"""The embedded default (SQLite and kombu's in-memory broker, nothing to install) publishes and relays too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.acceptance]

REPO = Path(__file__).resolve().parents[2]
#: What demo_project/settings.py reads from the environment besides the two URLs set below.
SETTINGS_ENV = ("DATABASE_URL", "BROKER_URL", "OUTBOX_CELERY_ON_COMMIT", "INBOX_QUEUE")


def embedded_env(database: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_ENV}
    env.update(DJANGO_SETTINGS_MODULE="demo_project.settings", DATABASE_URL=f"sqlite:///{database}",
               BROKER_URL="memory://")
    return env


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_embedded_default__sqlite_and_memory_broker__exactly_the_committed_messages_arrive(tmp_path):
    env = embedded_env(tmp_path / "x.sqlite3")
    committed = [str(uuid.uuid4()) for _ in range(3)]
    rolled_back = str(uuid.uuid4())

    run(["manage.py", "migrate", "--verbosity", "0"], env)
    output = run(["-m", "tests.acceptance.embedded_flow", *committed, rolled_back], env)

    assert (tmp_path / "x.sqlite3").exists()
    assert json.loads(output.strip().splitlines()[-1]) == {"sent": 3, "received": committed}
