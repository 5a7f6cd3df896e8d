"""Human names for messages ("alice", "Ada's reservation"), so the timeline reads as a story."""

from __future__ import annotations

from outbox.ids import short


class Labels:
    """Names by message id, by ordering key, or by correlation id (follow-up messages inherit it)."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def name(self, identifier: object, label: str) -> None:
        """Name a message id, a key (e.g. "reservation:3") or a correlation id."""
        self._names[str(identifier)] = label

    def describe(self, topic: str, message_id: object, key: str | None = None, correlation_id: str = "") -> str:
        """``topic 1f3a9c2e (label)``; the label is omitted when nothing names the message."""
        message_id = str(message_id)
        label = next((self._names[i] for i in (message_id, key, correlation_id) if i and i in self._names), "")
        text = f"{topic} {short(message_id)}"
        return f"{text} ({label})" if label else text
