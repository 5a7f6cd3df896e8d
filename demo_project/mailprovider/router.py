"""Sends the mail provider's models to its own database alias, ``mail_provider``."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

APP_LABEL = "mailprovider"
ALIAS = "mail_provider"


class MailProviderRouter:
    """Reads and writes of the provider's models use its alias; that alias holds nothing else.

    The provider's tables are also created in the default database: on PostgreSQL both aliases are
    the same database (``manage.py migrate`` creates them), on SQLite the default copy stays empty.
    """

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return ALIAS if model._meta.app_label == APP_LABEL else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return ALIAS if model._meta.app_label == APP_LABEL else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if db == ALIAS:
            return app_label == APP_LABEL
        return None
