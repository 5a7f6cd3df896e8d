"""Transactional outbox for Django: ``outbox.publish(...)`` stores a message with your transaction.

A relay (the ``outbox.relay`` Celery task or ``manage.py outbox_relay``) publishes committed
messages to RabbitMQ with publisher confirms. The public API is imported lazily, so that
``import outbox`` works before Django's app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from outbox.exports import lazy_exports

if TYPE_CHECKING:
    from outbox.celery_dispatch import send_task
    from outbox.publisher import OutgoingMessage, publish, publish_many

__all__ = ["OutgoingMessage", "publish", "publish_many", "send_task"]

__getattr__ = lazy_exports(__name__, {
    "publish": "outbox.publisher",
    "publish_many": "outbox.publisher",
    "OutgoingMessage": "outbox.publisher",
    "send_task": "outbox.celery_dispatch",
})
