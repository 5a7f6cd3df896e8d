from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from outbox import checks  # noqa: F401 - registers the system checks

        # Register the Celery tasks with every Celery app of this process (Celery is optional), so that the
        # wake-up after commit finds ``outbox.relay`` by name without importing the tasks module itself.
        if find_spec("celery") is not None:
            import_module("outbox.tasks")
