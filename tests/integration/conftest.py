"""Fixtures for the integration tier: the test database as a URL, for processes started by a test."""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.conf import settings


@pytest.fixture
def test_database_url() -> str:
    """DATABASE_URL of the database this test runs on (pytest-django's ``test_<name>``, not the configured one)."""
    db = settings.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql", "integration tests run on PostgreSQL"
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return (f"postgres://{quote(db['USER'], safe='')}{password}@{db.get('HOST') or '127.0.0.1'}:"
            f"{db.get('PORT') or 5432}/{db['NAME']}")


@pytest.fixture
def child_env(test_database_url: str, broker_url: str, exchange: str) -> Callable[..., dict[str, str]]:
    """Factory: the environment for a child process on this test's database, broker and exchange."""

    def make(**extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"DJANGO_SETTINGS_MODULE": "demo_project.settings", "DATABASE_URL": test_database_url,
                    "BROKER_URL": broker_url, "TEST_OUTBOX_EXCHANGE": exchange, **extra})
        return env

    return make
