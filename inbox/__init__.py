"""Idempotent inbox for Django consumers: ``@inbox.handler("orders.placed")`` applies each message once.

The public API is imported lazily so that ``import inbox`` works before the app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inbox.exceptions import BusinessError, InboxError

if TYPE_CHECKING:
    from inbox.celery_tasks import IdempotentTask, idempotent_task
    from inbox.message import Message
    from inbox.registry import handler

__all__ = ["BusinessError", "IdempotentTask", "InboxError", "Message", "handler", "idempotent_task"]

_LAZY = {
    "handler": "inbox.registry",
    "Message": "inbox.message",
    "IdempotentTask": "inbox.celery_tasks",
    "idempotent_task": "inbox.celery_tasks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'inbox' has no attribute {name!r}")
