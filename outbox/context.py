"""The message being handled, so that messages published while handling it carry its ids.

The inbox sets this around a handler; :func:`outbox.publish` reads it. A contextvar keeps
concurrent handlers (threads, async tasks) apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """What an outgoing message inherits from the message whose handling produced it."""

    message_id: str
    correlation_id: str
    traceparent: str | None = None


_current: ContextVar[Cause | None] = ContextVar("outbox_cause", default=None)


def current_cause() -> Cause | None:
    """The message being handled in this context, or None outside a handler."""
    return _current.get()


@contextmanager
def caused_by(cause: Cause) -> Iterator[Cause]:
    """Within the block, published messages get ``cause``'s correlation id and causation id."""
    token = _current.set(cause)
    try:
        yield cause
    finally:
        _current.reset(token)
