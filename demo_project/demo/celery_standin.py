"""The Celery worker's part of the demo, in this process (``memory://`` cannot reach another one).

It reads the task messages the relay published to Celery's default queue and runs each with the
task's own code and the message's task id (``Task.apply``), which is what a worker does for the
demo's one task. With ``--drive-only`` a real ``celery -A demo_project worker`` does this instead.
"""

from __future__ import annotations

import json
import logging
import queue as stdlib_queue
from collections.abc import Callable
from typing import Any

from kombu import Connection

logger = logging.getLogger(__name__)


class CeleryStandIn:
    """Runs the task messages waiting in Celery's default queue; ``on_duplicate(name, task_id)`` is told
    when a task returned None because its id was already in the inbox."""

    def __init__(self, url: str, on_duplicate: Callable[[str, str], None]) -> None:
        from demo_project.celery import app

        self.app = app
        app.loader.import_default_modules()  # autodiscovers the apps' tasks modules, as a worker does
        name = str(app.conf.task_default_queue or "celery")
        self.connection = Connection(url)
        self.queue = self.connection.SimpleQueue(name)  # Celery's default: direct exchange, key and queue of one name
        self.on_duplicate = on_duplicate

    def run_ready(self) -> int:
        """Run every task message in the queue now; returns how many ran (0 when the queue was empty)."""
        ran = 0
        while True:
            try:
                message = self.queue.get(block=False)
            except stdlib_queue.Empty:
                return ran
            self._run(message.headers or {}, json.loads(message.body or b"null"))
            message.ack()
            ran += 1

    def _run(self, headers: dict[str, Any], body: list[Any]) -> None:
        name, task_id = str(headers["task"]), str(headers["id"])
        args, kwargs = body[0], body[1]
        result = self.app.tasks[name].apply(args=args, kwargs=kwargs, task_id=task_id)
        if result.failed():
            logger.error("task %s %s failed: %r", name, task_id, result.result)
        elif result.result is None:
            self.on_duplicate(name, task_id)

    def close(self) -> None:
        self.queue.close()
        self.connection.release()
