from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "demo_project.alerts"
    label = "alerts"
    verbose_name = "Price alerts"
    default_auto_field = "django.db.models.BigAutoField"
