"""Settings of the hostile-corpus consumer process: the test settings, its handlers, and the test's own
exchange and queue (TEST_OUTBOX_EXCHANGE, TEST_INBOX_QUEUE)."""

import os

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.hostile"]  # noqa: F405
OUTBOX_EXCHANGE = os.environ["TEST_OUTBOX_EXCHANGE"]
INBOX_QUEUE = os.environ["TEST_INBOX_QUEUE"]
