"""Settings of every chaos process: only the outbox, the inbox and the chaos app (the demo's apps and
handlers stay out of the run), on the run's own database, exchange and queues.

DATABASE_URL and BROKER_URL are set by the harness (chaos/env.py).
"""

from __future__ import annotations

import environ

env = environ.Env()

SECRET_KEY = "chaos-harness-only"
DEBUG = False  # DEBUG keeps every query in memory
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "outbox", "inbox", "chaos"]
DATABASES = {"default": env.db("DATABASE_URL")}
# As the demo project runs its long-running processes: persistent connections, checked before reuse
# (what must survive terminated backends and a restarted server).
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

OUTBOX_BROKER_URL = env("BROKER_URL")
OUTBOX_EXCHANGE = "chaos-events"
OUTBOX_SOURCE = "/chaos"
INBOX_QUEUE = "chaos-inbox"
# On the cluster the ordered queue must be a quorum queue to survive a node's loss (chaos/env.py sets it).
INBOX_ORDERED_QUEUE_TYPE = env("CHAOS_ORDERED_QUEUE_TYPE", default="classic")
# A relay killed mid-batch holds its lease for the default OUTBOX_LEASE_SECONDS (3.5 s, renewed while a
# live relay waits for confirms), well within the drain bound. Confirms time out sooner than by default.
OUTBOX_CONFIRM_TIMEOUT = 5.0
OUTBOX_POLL_INTERVAL = 0.5
# Delayed retries of the flaky first attempts come back quickly.
INBOX_BACKOFF_BASE = 0.2
INBOX_BACKOFF_CAP = 1.0
INBOX_POLL_INTERVAL = 0.2

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}
