"""Idempotent Celery tasks, deduplicated through the inbox table by task id.

``@inbox.idempotent_task`` (or ``@shared_task(base=inbox.IdempotentTask)``) runs the task body in a
transaction that first records (task name, task id) in the inbox: a second delivery of the same
task finds the record and returns None without running. If the body raises, nothing is recorded
and Celery's own retry rules apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from django.db import transaction
from django.utils import timezone

from inbox.models import InboxMessage, Status
from outbox.routing import model_write_alias


class IdempotentTask(Task):
    """A Celery task whose effect happens once per task id, however often the message is delivered."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = getattr(self.request, "id", None)
        if not task_id:  # called directly, not as a task: nothing to deduplicate
            return super().__call__(*args, **kwargs)
        alias = model_write_alias(InboxMessage)  # not the manager's read alias: a replica, with a replica router
        with transaction.atomic(using=alias):
            row = InboxMessage(handler=f"celery:{self.name}", message_id=str(task_id), topic=self.name,
                               payload={"args": list(args), "kwargs": kwargs}, status=Status.DONE, attempts=1,
                               processed_at=timezone.now())
            if not InboxMessage.objects.using(alias).receive(row):
                return None
            return super().__call__(*args, **kwargs)


def idempotent_task(*args: Any, **options: Any) -> Callable[..., Any]:
    """``shared_task`` with :class:`IdempotentTask` as base; use with or without arguments."""
    return shared_task(*args, base=IdempotentTask, **options)
