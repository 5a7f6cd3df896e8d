"""What the inbox adds to the outbox's cross-app features, registered once from ``InboxConfig.ready()``:
its section of ``messaging_status``, its gauges on each metrics scrape, and its rows among a message's
related messages in the admin. The outbox (the base) offers the registries and never imports the inbox.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from inbox import metrics, status
from inbox.models import InboxMessage
from outbox import metrics as outbox_metrics
from outbox import related
from outbox import status as outbox_status


def register() -> None:
    """Register the inbox's contributions (registering again replaces them)."""
    outbox_status.register_status_section(status.SECTION)
    outbox_metrics.register_gauges("inbox", metrics.gauges)
    related.register_related_lookup("inbox", related_rows)


def related_rows(**filters: Any) -> list[models.Model]:
    """Inbox rows matching ``filters``, at most :data:`outbox.related.LIMIT`, oldest first."""
    return list(InboxMessage.objects.filter(**filters).order_by("id")[:related.LIMIT])
