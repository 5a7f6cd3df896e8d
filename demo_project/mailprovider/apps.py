from __future__ import annotations

from django.apps import AppConfig


class MailProviderConfig(AppConfig):
    name = "demo_project.mailprovider"
    label = "mailprovider"
    verbose_name = "Mail provider (simulated external API)"
    default_auto_field = "django.db.models.BigAutoField"
