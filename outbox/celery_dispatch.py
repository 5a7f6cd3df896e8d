"""``outbox.send_task``: dispatch a Celery task through the outbox.

The task message is written with the caller's transaction, so it is sent only if the transaction
commits, and it is sent even if the process dies right after the commit (the relay sends it). The
message follows Celery's task protocol 2 in JSON; the outbox message id is the task id, which is
what :class:`inbox.IdempotentTask` deduplicates on.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from outbox.models import OutboxMessage
from outbox.publisher import OutgoingMessage, publish_many


def send_task(name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
              queue: str | None = None, countdown: float | timedelta | None = None,
              task_id: str | uuid.UUID | None = None, using: str | None = None) -> OutboxMessage:
    """Store a Celery task message in the current transaction; returns the outbox row (its id is the task id).

    ``queue`` defaults to the Celery app's ``task_default_queue`` ("celery"); ``countdown`` holds
    the message back in the outbox. Arguments must be JSON-serializable (InvalidPayload otherwise).
    """
    task_id = uuid.UUID(str(task_id)) if task_id is not None else uuid.uuid4()
    args, kwargs = list(args), dict(kwargs or {})
    message = OutgoingMessage(
        topic=name, payload=[args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
        headers=_task_headers(name, str(task_id), args, kwargs), message_id=task_id, delay=countdown,
        correlation_id=str(task_id), exchange="", routing_key=queue or _default_queue())
    return publish_many([message], using=using)[0]


def _task_headers(name: str, task_id: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"lang": "py", "task": name, "id": task_id, "shadow": None, "eta": None, "expires": None,
            "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": task_id,
            "parent_id": None, "argsrepr": repr(args)[:1024], "kwargsrepr": repr(kwargs)[:1024],
            "origin": f"outbox@{socket.gethostname()}", "ignore_result": False}


def _default_queue() -> str:
    from celery import current_app

    return str(current_app.conf.task_default_queue or "celery")
