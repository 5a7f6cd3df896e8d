"""Transactional outbox for Django: ``outbox.publish(...)`` stores a message with your transaction.

A relay (the ``outbox.relay`` Celery task or ``manage.py outbox_relay``) publishes committed
messages to RabbitMQ with publisher confirms. The public API is imported lazily, so that
``import outbox`` works before Django's app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outbox.celery_dispatch import send_task
    from outbox.publisher import OutgoingMessage, publish, publish_many

__all__ = ["OutgoingMessage", "publish", "publish_many", "send_task"]

_LAZY = {
    "publish": "outbox.publisher",
    "publish_many": "outbox.publisher",
    "OutgoingMessage": "outbox.publisher",
    "send_task": "outbox.celery_dispatch",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'outbox' has no attribute {name!r}")
