"""Celery tasks of the inbox: thin wrappers over the library, run by beat."""

from __future__ import annotations

from celery import shared_task

from inbox import retention


@shared_task(name="inbox.purge", ignore_result=True)
def purge() -> int:
    """Delete old finished inbox rows (``INBOX_RETENTION_DAYS``, dead ones kept); returns how many."""
    return retention.purge()
