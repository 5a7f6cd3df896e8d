"""Settings of the demo project. The only place that reads the environment (through django-environ).

With nothing set, it runs on SQLite and kombu's in-memory broker. Set DATABASE_URL=postgres://...
and BROKER_URL=amqp://... to run on PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env(DEBUG=(bool, True))

DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY", default="demo-only-insecure-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "outbox",
    "inbox",
    # The demo's services (docs/demo.md): each writes its model and its events in one transaction.
    "demo_project.accounts",
    "demo_project.hotel",
    "demo_project.alerts",
    "demo_project.mailprovider",
    "demo_project.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'demo.sqlite3'}")}
# Long-running relays and consumers keep their connection between rounds (checked before reuse).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for the single writer instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20


def _mail_provider_default() -> str:
    """The simulated mail provider keeps its own books: next to a SQLite database, in a file of its own (so its
    writes never wait on, nor roll back with, the consumer's transaction); on PostgreSQL, the same database
    reached through a second connection."""
    default = DATABASES["default"]
    if default["ENGINE"] != "django.db.backends.sqlite3":
        return str(env("DATABASE_URL"))
    path = Path(str(default["NAME"]))
    return f"sqlite:///{path.with_name(f'{path.stem}-mailprovider.sqlite3')}"


DATABASES["mail_provider"] = env.db("MAIL_PROVIDER_DATABASE_URL", default=_mail_provider_default())
if DATABASES["mail_provider"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["mail_provider"].setdefault("OPTIONS", {})["timeout"] = 20
DATABASE_ROUTERS = ["demo_project.mailprovider.router.MailProviderRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"

BROKER_URL = env("BROKER_URL", default="memory://")
CELERY_BROKER_URL = BROKER_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    # The sweep under the after-commit wake-ups: whatever they missed goes out within seconds.
    "outbox-sweep": {"task": "outbox.relay", "schedule": 5.0},
    # Retention, daily at night: old sent outbox messages and old inbox rows (the dedup window) go.
    "outbox-purge": {"task": "outbox.purge", "schedule": crontab(hour=3, minute=15)},
    "inbox-purge": {"task": "inbox.purge", "schedule": crontab(hour=3, minute=45)},
}

OUTBOX_BROKER_URL = BROKER_URL
OUTBOX_SOURCE = "/demo-project"
OUTBOX_CELERY_ON_COMMIT = env.bool("OUTBOX_CELERY_ON_COMMIT", default=False)
INBOX_QUEUE = env("INBOX_QUEUE", default="demo-project")
# /metrics/ (demo_project/urls.py) answers staff users, and Prometheus when it sends this bearer token.
OUTBOX_METRICS_TOKEN = env("OUTBOX_METRICS_TOKEN", default=None)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}
