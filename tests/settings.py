"""Test settings: the demo project plus a small app whose table records handler effects."""

from demo_project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
# Fast retries in tests; individual tests override what they measure.
INBOX_BACKOFF_BASE = 0.05
INBOX_BACKOFF_CAP = 0.2
INBOX_BREAKER_COOLDOWN = 0.2
