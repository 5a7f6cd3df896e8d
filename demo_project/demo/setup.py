"""Before the scenarios: the provider's database, a clean slate, the admin user, empty queues."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import Model
from kombu import Connection
from kombu.exceptions import ChannelError, OperationalError

from demo_project.mailprovider.router import ALIAS
from inbox.conf import inbox_settings

#: Deleted before each run, children first: the demo apps' tables, then the library's.
DEMO_APPS = ("alerts", "hotel", "accounts", "mailprovider")
LIBRARY_MODELS = ("inbox.InboxMessage", "inbox.KeyPosition", "outbox.OutboxMessage", "outbox.OutboxKey",
                  "outbox.BreakerState")
ADMIN_USER, ADMIN_PASSWORD = "admin", "admin"


def migrate_provider() -> None:
    """The mail provider's own database (a no-op where it shares the default database)."""
    call_command("migrate", database=ALIAS, verbosity=0)


def clear_previous_run() -> int:
    """Delete the rows of a previous run, so the tally counts this one; returns how many."""
    deleted = 0
    for label in DEMO_APPS:
        models = list(apps.get_app_config(label).get_models())
        for model in sorted(models, key=_children_first):
            deleted += model._default_manager.all().delete()[0]
    with transaction.atomic():
        for name in LIBRARY_MODELS:
            deleted += apps.get_model(name)._default_manager.all().delete()[0]
    return deleted


def _children_first(model: type[Model]) -> int:
    """Models with foreign keys before the models they point to (enough for the demo's shallow trees)."""
    return -len([f for f in model._meta.get_fields() if f.many_to_one and getattr(f, "concrete", False)])


def ensure_admin() -> bool:
    """Create the demo superuser admin/admin unless it exists; True when it was created."""
    users = get_user_model().objects
    if users.filter(username=ADMIN_USER).exists():
        return False
    users.create_superuser(ADMIN_USER, "admin@example.com", ADMIN_PASSWORD)
    return True


def purge_queues(url: str) -> int:
    """Drop messages a previous, interrupted in-process run left on the broker; returns how many."""
    purged = 0
    names = (inbox_settings.QUEUE, f"{inbox_settings.QUEUE}.ordered", "celery")
    with Connection(url) as connection:
        for name in names:
            channel: Any = connection.channel()  # a refused purge (no such queue) closes its channel: one each
            try:
                purged += channel.queue_purge(name) or 0
            except (ChannelError, OperationalError):
                continue
            channel.close()
    return purged


def database_description() -> str:
    default, provider = settings.DATABASES["default"], settings.DATABASES[ALIAS]
    if default["ENGINE"].endswith("sqlite3"):
        return f"SQLite {default['NAME']} (mail provider: {provider['NAME']})"
    return f"PostgreSQL {default.get('HOST') or 'localhost'}/{default['NAME']}"
