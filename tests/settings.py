"""Test settings: the demo project plus a small app whose table records handler effects."""

from demo_project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
# Tests open connections in threads and subprocesses: close them after each use so the test
# database can be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Fast retries in tests; individual tests override what they measure.
INBOX_BACKOFF_BASE = 0.05
INBOX_BACKOFF_CAP = 0.2
INBOX_BREAKER_COOLDOWN = 0.2

# One test database per pytest process, so that concurrent runs on one server never collide.
import os  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_{DATABASES['default']['NAME']}_{os.getpid()}"  # noqa: F405
    # The demo's mail provider reaches the same database through a second connection: mirror it in tests.
    DATABASES["mail_provider"]["TEST"] = {"MIRROR": "default"}  # noqa: F405
