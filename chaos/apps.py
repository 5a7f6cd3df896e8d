from __future__ import annotations

from django.apps import AppConfig


class ChaosConfig(AppConfig):
    """The harness's tables (producer ledger, handler effects) and its handlers (``chaos.handlers``)."""

    name = "chaos"
    verbose_name = "Chaos harness"
    default_auto_field = "django.db.models.BigAutoField"
