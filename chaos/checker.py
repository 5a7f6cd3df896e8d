"""The verdict, in the vocabulary of Jepsen's queue checkers (total-queue, ordered-queue).

- lost: committed by a producer (a ledger row exists), never applied by a handler;
- phantom: applied, but its transaction rolled back on purpose, or its outcome was unknown and it is
  not in the ledger (never committed);
- applied duplicates: more than one effect for one (handler, message);
- suppressed duplicates: deliveries the inbox recognised as already applied (broker-level duplicates);
- order violations: for the ordered handler, a key's effects not in sequence order;
- stuck: messages left pending in the outbox, waiting, blocked or dead in the inbox, or still queued in
  RabbitMQ and not applied, after the drain (the drain ran out of time: not lost, not done either).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from chaos.config import ORDERED_HANDLER as ORDERED
from chaos.config import PLAIN_HANDLER as PLAIN
from chaos.env import World, queued_uids, read_lines, sql

UID = re.compile(r"^[0-9a-f]{32}$")
HANDLERS = (ORDERED, PLAIN)


@dataclass
class Verdict:
    attempted: int = 0
    committed: int = 0
    rolled_back: int = 0
    unknown: int = 0  # a database error hid the outcome from the producer
    unknown_committed: int = 0
    lost: dict[str, int] = field(default_factory=dict)
    phantom: dict[str, int] = field(default_factory=dict)
    applied_duplicates: dict[str, int] = field(default_factory=dict)
    suppressed_duplicates: int = 0
    order_violations: int = 0
    keys_out_of_order: int = 0
    sequence_mismatches: int = 0  # an effect whose key or sequence header differs from what the producer wrote
    stuck: dict[str, int] = field(default_factory=dict)
    drain_seconds: float | None = None
    drain_limit: float = 60.0
    examples: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        """Each broken expectation, as a line; [] when the run passed."""
        problems = [f"{name}: {total}" for name, total in (
            ("lost", sum(self.lost.values())), ("phantom", sum(self.phantom.values())),
            ("applied duplicates", sum(self.applied_duplicates.values())),
            ("order violations", self.order_violations), ("sequence mismatches", self.sequence_mismatches),
            ("stuck", sum(self.stuck.values()))) if total]
        if self.drain_seconds is None or self.drain_seconds > self.drain_limit:
            shown = "never" if self.drain_seconds is None else f"{self.drain_seconds:.1f}s"
            problems.append(f"drained after the last fault: {shown} (limit {self.drain_limit:.0f}s)")
        return problems


def check(world: World, drain_seconds: float | None, drain_limit: float) -> Verdict:
    """Compare the ledger, the producers' files, the effects and the final tables."""
    verdict = Verdict(drain_seconds=drain_seconds, drain_limit=drain_limit)
    ledger = {uid: (key, seq) for uid, key, seq in sql("SELECT uid, key, seq FROM chaos_ledgerentry")}
    rolled_back = _uids(world, "rolled_back")
    unknown = _uids(world, "unknown")
    verdict.committed, verdict.rolled_back = len(ledger), len(rolled_back)
    verdict.unknown, verdict.unknown_committed = len(unknown), len(unknown & ledger.keys())
    verdict.attempted = verdict.committed + verdict.rolled_back + verdict.unknown - verdict.unknown_committed
    if rolled_back & ledger.keys():
        verdict.examples.append(f"harness error: {len(rolled_back & ledger.keys())} rolled back uids in the ledger")
    effects = sql("SELECT handler, uid, key, seq FROM chaos_effect ORDER BY id")
    queued = {ORDERED if ordered else PLAIN: uids for ordered, uids in queued_uids().items()}
    _count_sets(verdict, ledger, effects, queued)
    _count_order(verdict, ledger, effects)
    verdict.suppressed_duplicates = len(read_lines(sorted(world.run_dir.glob("duplicates-*.txt"))))
    verdict.stuck.update(_stuck())
    return verdict


def _uids(world: World, prefix: str) -> set[str]:
    return {line for line in read_lines(sorted(world.run_dir.glob(f"{prefix}-*.txt"))) if UID.match(line)}


def _count_sets(verdict: Verdict, ledger: dict[str, tuple[str, int]], effects: list[tuple[str, str, str, int]],
                queued: dict[str, set[str]]) -> None:
    applied: dict[str, Counter[str]] = {handler: Counter() for handler in HANDLERS}
    for handler, uid, _, _ in effects:
        applied.setdefault(handler, Counter())[uid] += 1
    for handler, counts in applied.items():
        waiting = (ledger.keys() & queued.get(handler, set())) - counts.keys()
        if waiting:
            verdict.stuck[f"queued for {handler}"] = len(waiting)
        lost = ledger.keys() - counts.keys() - waiting
        phantom = counts.keys() - ledger.keys()
        verdict.lost[handler], verdict.phantom[handler] = len(lost), len(phantom)
        verdict.applied_duplicates[handler] = sum(n - 1 for n in counts.values() if n > 1)
        verdict.examples += [f"lost by {handler}: {uid}" for uid in sorted(lost)[:3]]
        verdict.examples += [f"phantom in {handler}: {uid}" for uid in sorted(phantom)[:3]]


def _count_order(verdict: Verdict, ledger: dict[str, tuple[str, int]], effects: list[tuple[str, str, str, int]]
                 ) -> None:
    """Effects are numbered in commit order per key (a key's handler transactions serialize on its lock)."""
    per_key: dict[str, list[int]] = defaultdict(list)
    for handler, uid, key, seq in effects:
        if uid in ledger and ledger[uid] != (key, seq):
            verdict.sequence_mismatches += 1
        if handler == ORDERED:
            per_key[key].append(seq)
    for key, seqs in per_key.items():
        inversions = sum(1 for a, b in itertools.pairwise(seqs) if b < a)
        if inversions:
            verdict.order_violations += inversions
            verdict.keys_out_of_order += 1
            if len(verdict.examples) < 12:
                verdict.examples.append(f"order of {key}: {seqs[:20]}")


def _stuck() -> dict[str, int]:
    outbox = dict(sql("SELECT status, count(*) FROM outbox_outboxmessage WHERE status <> 'sent' GROUP BY status"))
    inbox = dict(sql("SELECT status, count(*) FROM inbox_inboxmessage WHERE status <> 'done' GROUP BY status"))
    return {**{f"outbox {k}": v for k, v in outbox.items()}, **{f"inbox {k}": v for k, v in inbox.items()}}
