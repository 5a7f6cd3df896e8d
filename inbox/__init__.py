"""Idempotent inbox for Django consumers: ``@inbox.handler("orders.placed")`` applies each message once.

The public API is imported lazily so that ``import inbox`` works before the app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inbox.exceptions import BusinessError, InboxError
from outbox.exports import lazy_exports

if TYPE_CHECKING:
    from inbox.celery_tasks import IdempotentTask, idempotent_task
    from inbox.message import Message
    from inbox.registry import handler

__all__ = ["BusinessError", "IdempotentTask", "InboxError", "Message", "handler", "idempotent_task"]

__getattr__ = lazy_exports(__name__, {
    "handler": "inbox.registry",
    "Message": "inbox.message",
    "IdempotentTask": "inbox.celery_tasks",
    "idempotent_task": "inbox.celery_tasks",
})
