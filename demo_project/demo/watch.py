"""Timeline events read from the database: what the relay, the consumers and the services did.

The same watcher serves both modes: in-process it is polled after every round of work and also
shown every committed save of an inbox row (``services.InProcessServices``), with ``--drive-only``
it is polled every few hundred milliseconds while other processes do the work. It compares what
it sees with what it saw last time and describes the difference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from demo_project.demo.labels import Labels
from demo_project.demo.timeline import Event
from demo_project.hotel.models import AuthorisationStatus, CardAuthorisation, GuestNotice
from demo_project.mailprovider.models import ApiCall, Outcome
from inbox.models import InboxMessage, Status
from outbox.ids import short
from outbox.models import BreakerState, OutboxMessage
from outbox.models import Status as OutboxStatus


class OutboxWatch:
    """Written, relayed, relayed again (same id), expired or dead in the outbox."""

    FIELDS = ("id", "topic", "key", "correlation_id", "causation_id", "exchange", "status", "created_at", "sent_at")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.seen: dict[Any, dict[str, Any]] = {}

    def poll(self) -> list[Event]:
        events: list[Event] = []
        for row in OutboxMessage.objects.order_by("created_at").values(*self.FIELDS):
            before = self.seen.get(row["id"])
            self.seen[row["id"]] = row
            if before is None:
                events.append(self._written(row))
            if before is None or (before["status"], before["sent_at"]) != (row["status"], row["sent_at"]):
                events.extend(self._changed(row, before))
        return events

    def _what(self, row: dict[str, Any]) -> str:
        topic = f"task {row['topic']}" if row["exchange"] == "" else row["topic"]
        return self.labels.describe(topic, row["id"], row["key"], row["correlation_id"])

    def _written(self, row: dict[str, Any]) -> Event:
        how = "written by a handler, in its transaction" if row["causation_id"] else "written with the domain change"
        kind = "fault" if row["topic"].endswith(".fault") else "written"
        return Event(row["created_at"], kind, "outbox", f"{self._what(row)}: {how}")

    def _changed(self, row: dict[str, Any], before: dict[str, Any] | None) -> list[Event]:
        status, what = row["status"], self._what(row)
        if status == OutboxStatus.SENT:
            again = before is not None and before["sent_at"] is not None
            text = "published again, same message id" if again else "published, confirmed by the broker"
            return [Event(row["sent_at"], "relayed", "relay", f"{what}: {text}")]
        if status == OutboxStatus.EXPIRED:
            return [Event(timezone.now(), "expired", "relay", f"{what}: expired before it was sent, dropped")]
        if status == OutboxStatus.DEAD:
            return [Event(timezone.now(), "dead", "relay", f"{what}: the broker refused it on every attempt")]
        return []


class InboxWatch:
    """Per handler: delivered, failed, retried after a delay, held by the breaker, applied, dead, expired."""

    FIELDS = ("id", "handler", "message_id", "topic", "key", "correlation_id", "status", "attempts",
              "available_at", "received_at", "processed_at", "history")

    def __init__(self, labels: Labels, *, polled: bool) -> None:
        self.labels = labels
        self.polled = polled  # only polled: one observation may cover several steps (a retry, then a hold)
        self.seen: dict[int, dict[str, Any]] = {}

    def poll(self) -> list[Event]:
        events: list[Event] = []
        for row in InboxMessage.objects.order_by("received_at").values(*self.FIELDS):
            events.extend(self.observe(row))
        return events

    def observe(self, row: dict[str, Any]) -> list[Event]:
        """Describe how ``row`` (the FIELDS of one inbox row) differs from the last time it was seen."""
        before = self.seen.get(row["id"])
        self.seen[row["id"]] = row
        if before is not None and self._key(before) == self._key(row):
            return []
        return self._changed(row, before)

    @classmethod
    def snapshot(cls, row: InboxMessage) -> dict[str, Any]:
        """The FIELDS of a row object, as ``values()`` would give them."""
        values = {name: getattr(row, name) for name in cls.FIELDS if name != "id"}
        return {**values, "id": row.pk, "history": list(row.history or [])}

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple[Any, ...]:
        return row["status"], row["attempts"], row["available_at"], len(row["history"] or [])

    def _changed(self, row: dict[str, Any], before: dict[str, Any] | None) -> list[Event]:
        what = self.labels.describe(row["topic"], row["message_id"], row["key"], row["correlation_id"])
        who = row["handler"] or "inbox"
        done = len((before or {}).get("history") or [])
        events = [_history_event(entry, who, what) for entry in (row["history"] or [])[done:]]
        status_event = self._status_event(row, before, who, what, events)
        return [e for e in [*events, status_event] if e is not None]

    def _status_event(self, row: dict[str, Any], before: dict[str, Any] | None, who: str, what: str,
                      history: list[Event | None]) -> Event | None:
        status, attempts = row["status"], row["attempts"]
        when = row["processed_at"] or timezone.now()
        if status == Status.DONE:
            first = before is None and attempts <= 1
            text = "delivered and applied" if first else f"applied on attempt {attempts}"
            return Event(when, "applied", who, f"{what}: {text}")
        if status == Status.WAITING:
            return _waiting(row, before, who, what, history, self.polled)
        if status == Status.DEAD and not _business(row):
            return Event(when, "dead", who, f"{what}: dead-lettered after {attempts} attempts, kept for an operator")
        if status == Status.EXPIRED:
            return Event(when, "expired", who, f"{what}: expired, worthless now: not applied")
        if status == Status.SKIPPED:
            return Event(when, "skipped", who, f"{what}: stale (a newer message of its key was applied)")
        return None


def _waiting(row: dict[str, Any], before: dict[str, Any] | None, who: str, what: str,
             history: list[Event | None], polled: bool) -> Event | None:
    """A delayed retry was scheduled (an attempt was charged), or the breaker held the message back."""
    if row["available_at"] is None or any(e is not None and e.kind == "replayed" for e in history):
        return None
    charged = row["attempts"] > (before["attempts"] if before is not None else 0)
    wait = _ms(row["available_at"], history)
    if charged:
        why = "" if polled else " (exponential back-off, jitter)"
        return Event(_last(history), "retry", who, f"{what}: will retry in {wait}{why}")
    tried = "this attempt is not counted" if any(e is not None for e in history) else "not tried"
    return Event(_last(history), "held", who, f"{what}: circuit open, {tried}; next try in {wait}")


def _history_event(entry: dict[str, Any], who: str, what: str) -> Event | None:
    at = datetime.fromisoformat(entry["at"])
    event, error = str(entry.get("event", "")), entry.get("error", "")
    if event == "failed":
        return Event(at, "failed", who, f"{what}: attempt {entry['attempt']} failed: {_strip(error)}")
    if event == "business_error":
        return Event(at, "refused", who, f"{what}: business error, not retried: {_strip(error)}")
    if event == "retried":
        return Event(at, "replayed", who, f"{what}: operator retry, due now with fresh retries")
    if event.startswith("discarded"):
        return Event(at, "discarded", who, f"{what}: {event}")
    return None


def _business(row: dict[str, Any]) -> bool:
    return any(entry.get("event") == "business_error" for entry in row["history"] or [])


def _last(history: list[Event | None]) -> datetime:
    times = [e.at for e in history if e is not None]
    return max(times) if times else timezone.now()


def _ms(available_at: datetime, history: list[Event | None]) -> str:
    return f"{max(0.0, (available_at - _last(history)).total_seconds()) * 1000:.0f} ms"


def _strip(error: str) -> str:
    """``demo_project.mailprovider.api.ServiceUnavailable: 503 ...`` → ``ServiceUnavailable: 503 ...``."""
    kind, _, message = error.partition(": ")
    return f"{kind.rpartition('.')[2]}: {message}" if message else kind.rpartition(".")[2]


class ServiceWatch:
    """What the services did that the timeline should show: mail provider calls, guests told, holds released."""

    def __init__(self) -> None:
        self.last_call = 0
        self.last_notice = 0
        self.released: set[int] = set()

    def poll(self) -> list[Event]:
        return [*self._calls(), *self._notices(), *self._releases()]

    def _calls(self) -> list[Event]:
        calls = list(ApiCall.objects.filter(pk__gt=self.last_call).order_by("pk"))
        if calls:
            self.last_call = calls[-1].pk
        return [Event(c.at, "mail api", "mail provider", _call_text(c)) for c in calls]

    def _notices(self) -> list[Event]:
        notices = list(GuestNotice.objects.filter(pk__gt=self.last_notice).select_related("reservation").order_by("pk"))
        if notices:
            self.last_notice = notices[-1].pk
        return [Event(n.created_at, "told", "front desk", f"{n.reservation.guest}: \"{n.text}\"") for n in notices]

    def _releases(self) -> list[Event]:
        events = []
        for hold in CardAuthorisation.objects.filter(status=AuthorisationStatus.RELEASED).exclude(pk__in=self.released):
            self.released.add(hold.pk)
            events.append(Event(hold.released_at or timezone.now(), "compensate", "payments",
                                f"hold #{hold.pk} of {hold.amount} EUR on the card released (reservation "
                                f"{hold.reservation_id})"))
        return events


def _call_text(call: ApiCall) -> str:
    key = call.idempotency_key.rpartition(":")
    short_key = f"{key[0]}:{short(key[2])}"
    texts = {
        Outcome.ACCEPTED: f"e-mail {call.detail} sent to {call.to} (key {short_key})",
        Outcome.RESPONSE_LOST: f"e-mail {call.detail} sent to {call.to}, but the response is lost on the way back",
        Outcome.DUPLICATE: f"key {short_key} seen before: answers {call.detail} again, sends nothing",
        Outcome.UNAVAILABLE: f"503 for {call.to}: outage",
        Outcome.SERVER_ERROR: f"500 for {call.to}: {call.detail}",
    }
    return texts.get(Outcome(call.outcome), call.outcome)


class BreakerWatch:
    """Circuit breaker states as the consumer processes stored them (``--drive-only``)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, datetime]] = {}

    def poll(self) -> list[Event]:
        events = []
        for state in BreakerState.objects.all():
            current = (state.state, state.changed_at)
            if self.seen.get(state.name) != current:
                self.seen[state.name] = current
                events.append(Event(state.changed_at, "breaker", state.name, breaker_text(state.state, state.reason)))
        return events


def breaker_text(state: str, reason: str = "") -> str:
    if state == "open":
        return f"circuit OPEN: calls stop, messages wait without spending retries ({_strip(reason)})"
    if state == "half_open":
        return "circuit HALF-OPEN: one probe call goes through"
    return "circuit CLOSED: calls flow again"


class Watcher:
    """All the sources above, polled together."""

    def __init__(self, labels: Labels, *, polled: bool) -> None:
        self.inbox = InboxWatch(labels, polled=polled)
        self.sources: list[Any] = [OutboxWatch(labels), self.inbox, ServiceWatch()]
        if polled:  # in-process, the breakers' log records tell every change
            self.sources.append(BreakerWatch())

    def poll(self) -> list[Event]:
        return [event for source in self.sources for event in source.poll()]
