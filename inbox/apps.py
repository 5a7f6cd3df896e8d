from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inbox import (
            checks,  # noqa: F401 - registers the system checks
            contributions,
        )

        contributions.register()  # the inbox's part of status, metrics and related messages

        # Handlers live in a "handlers" module of any installed app, as admin classes live in "admin".
        autodiscover_modules("handlers")
