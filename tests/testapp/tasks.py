"""A Celery task for the send_task tests: its effect is an Effect row, so a second run would show."""

from __future__ import annotations

import inbox
from tests.testapp.models import Effect

RECORD_TASK = "testapp.record_effect"


@inbox.idempotent_task(name=RECORD_TASK)
def record_effect(marker: str) -> str:
    """Write one Effect row for ``marker``; returns the marker (None when a duplicate delivery was skipped)."""
    Effect.objects.create(handler=RECORD_TASK, message_id=marker, value={"marker": marker})
    return marker
