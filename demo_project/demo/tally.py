"""The tally: counted from the database after the scenarios, never from what the demo meant to do.

lost: a committed message that reached no final state with one of the handlers that take it (no
inbox row, or still waiting), or never left the outbox. Dead messages are counted apart: they are
parked for an operator, not lost. applied twice: an effect row (a history entry, an e-mail, a room,
an invoice...) that exists more than once for the message that caused it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from inbox.models import InboxMessage, Status
from inbox.registry import registry, topic_matches
from outbox.models import OutboxMessage
from outbox.models import Status as OutboxStatus

SETTLED = (Status.DONE, Status.EXPIRED, Status.SKIPPED)


@dataclass
class ScenarioTally:
    key: str
    title: str
    committed: int = 0
    relayed: int = 0
    expired: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    recovered_by_retries: int = 0
    dead_then_replayed: int = 0
    dead: int = 0
    redelivered: int = 0
    duplicates_suppressed: int | None = None
    lost: int = 0
    applied_twice: int = 0
    numbers: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def count(scenario: ModuleType, redelivered: int, duplicates: list[tuple[str, str]] | None) -> ScenarioTally:
    """The tally of one scenario; ``duplicates`` are (topic, handler) pairs dropped (None: not observed)."""
    mine = _matcher(scenario.TOPICS)
    messages = [m for m in OutboxMessage.objects.all() if mine(m.topic)]
    rows = [r for r in InboxMessage.objects.exclude(handler="") if mine(r.topic)]
    tally = ScenarioTally(scenario.KEY, scenario.TITLE, committed=len(messages), redelivered=redelivered)
    tally.relayed = sum(m.status == OutboxStatus.SENT for m in messages)
    tally.expired = sum(m.status == OutboxStatus.EXPIRED for m in messages) + sum(
        r.status == Status.EXPIRED for r in rows)
    _count_rows(tally, rows)
    tally.lost = _lost(messages, {(r.handler, r.message_id): r for r in rows})
    tally.applied_twice = sum(len(values) - len(set(values)) for _, values in scenario.effects())
    if duplicates is not None:
        tally.duplicates_suppressed = sum(1 for topic, _ in duplicates if mine(topic))
    tally.numbers, tally.lines, tally.problems = scenario.facts()
    return tally


def _count_rows(tally: ScenarioTally, rows: list[InboxMessage]) -> None:
    order = {spec.name: n for n, spec in enumerate(registry.all())}
    applied = Counter(r.handler for r in rows if r.status == Status.DONE)
    tally.applied = {h: applied[h] for h in sorted(applied, key=lambda h: (order.get(h, len(order)), h))}
    for row in rows:
        events = [entry.get("event") for entry in row.history or []]
        tally.refused += "business_error" in events
        tally.dead += row.status == Status.DEAD and "business_error" not in events
        tally.recovered_by_retries += row.status == Status.DONE and "failed" in events
        tally.dead_then_replayed += row.status == Status.DONE and "retried" in events


def _lost(messages: list[OutboxMessage], rows: dict[tuple[str, str], InboxMessage]) -> int:
    lost = 0
    for message in messages:
        if message.status in (OutboxStatus.PENDING, OutboxStatus.DEAD):
            lost += 1
        elif message.status == OutboxStatus.SENT:
            lost += sum(not _settled(rows.get((handler, str(message.id)))) for handler in _takers(message))
    return lost


def _takers(message: OutboxMessage) -> list[str]:
    """The handlers that must each finish the message: a Celery task's inbox name, or the registry's handlers."""
    if message.exchange == "":
        return [f"celery:{message.topic}"]
    return [spec.name for spec in registry.for_topic(message.topic)]


def _settled(row: InboxMessage | None) -> bool:
    """Applied, expired, skipped as stale, or dead (refused, or parked for an operator: counted apart)."""
    return row is not None and row.status in (*SETTLED, Status.DEAD)


def _matcher(patterns: tuple[str, ...]) -> Any:
    return lambda topic: any(topic_matches(p, topic) for p in patterns)


def as_json(tallies: list[ScenarioTally], seconds: float, mode: str) -> dict[str, Any]:
    """The machine-readable tally (the last line of ``manage.py demo --json``)."""
    return {"mode": mode, "seconds": round(seconds, 2), "ok": ok(tallies),
            "lost": sum(t.lost for t in tallies), "applied_twice": sum(t.applied_twice for t in tallies),
            "dead": sum(t.dead for t in tallies), "scenarios": {t.key: asdict(t) for t in tallies}}


def ok(tallies: list[ScenarioTally]) -> bool:
    return not any(t.lost or t.applied_twice or t.dead or t.problems for t in tallies)


def lines(tally: ScenarioTally) -> list[str]:
    """The readable tally of one scenario."""
    applied = ", ".join(f"{h} {n}" for h, n in tally.applied.items()) or "nothing"
    duplicates = "not observed here" if tally.duplicates_suppressed is None else tally.duplicates_suppressed
    return [
        f"events committed {tally.committed} (relayed {tally.relayed}, expired {tally.expired}) · applied per "
        f"handler: {applied}",
        f"redelivered on purpose {tally.redelivered}, duplicates suppressed {duplicates} · recovered by retries "
        f"{tally.recovered_by_retries} · refused as business errors {tally.refused} · dead then replayed "
        f"{tally.dead_then_replayed} · still dead {tally.dead}",
        *tally.lines,
        f"lost: {tally.lost}, applied twice: {tally.applied_twice}",
        *(f"PROBLEM: {p}" for p in tally.problems),
    ]
