"""Everything one run measured, and the figures (with goals) derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.figures import Figure, at_least, at_most, reported
from bench.latency import Latency
from bench.relay_rate import DEFAULT_BATCH, KEYS, Growth, RelayRates
from bench.stats import median

if TYPE_CHECKING:
    from bench.inbox_rate import InboxRates  # imports the inbox app: only once Django is set up

LATENCY_GOALS = {"p50": 15.0, "p99": 100.0}


@dataclass
class Results:
    """Raw runs of every section that ran (None or empty: the section was skipped)."""

    b_stream: list[float] = field(default_factory=list)
    b_sync: list[float] = field(default_factory=list)
    b_stream_wire: list[float] = field(default_factory=list)
    relay: RelayRates | None = None
    scaling: dict[int, list[float]] | None = None
    growth: Growth | None = None
    write: dict[str, list[float]] | None = None
    latency: dict[str, Latency] | None = None
    inbox: list[Figure] = field(default_factory=list)
    inbox_rates: InboxRates | None = None

    def figures(self) -> list[Figure]:
        return [*self._baseline_figures(), *self._relay_figures(), *self._latency_figures(),
                *self._write_figures(), *self._scaling_figures(), *self._growth_figures(), *self.inbox]

    def best_batch(self) -> int:
        assert self.relay is not None
        return max(self.relay.runs, key=self.relay.median)

    def _baseline_figures(self) -> list[Figure]:
        if not self.b_stream:
            return []
        figures = [reported("B_stream (py-amqp, 256 in flight)", median(self.b_stream), "msg/s"),
                   reported("B_sync (kombu, confirm per message)", median(self.b_sync), "msg/s")]
        if self.b_stream_wire:
            wire = median(self.b_stream_wire)
            figures.append(reported("B_stream with the relay's message", wire, "msg/s",
                                    f"{wire / median(self.b_stream):.2f}x B_stream: the broker's cost of the "
                                    "richer message"))
        return figures

    def _relay_figures(self) -> list[Figure]:
        if self.relay is None:
            return []
        figures = [reported(f"R, batch {b}", self.relay.median(b), "msg/s") for b in self.relay.runs]
        if self.relay.keyed:
            keyed, plain = median(self.relay.keyed), self.relay.median(DEFAULT_BATCH)
            figures.append(reported(f"R, backlog on {KEYS} ordering keys, batch {DEFAULT_BATCH}", keyed, "msg/s",
                                    f"{keyed / plain:.2f}x the unkeyed backlog"))
        if self.b_stream:
            best = self.best_batch()
            rate, note = self.relay.median(best), f"R at batch {best}"
            figures += [at_least("R / B_stream", rate / median(self.b_stream), 0.7, "x", note),
                        at_least("R / B_sync", rate / median(self.b_sync), 5.0, "x", note)]
        return figures

    def _latency_figures(self) -> list[Figure]:
        figures: list[Figure] = []
        for mode, result in (self.latency or {}).items():
            for which, label in (("confirm", "commit->confirm"), ("receipt", "commit->receipt")):
                p50, p99, worst = result.summary(which)
                figures += _latency_trio(f"{label} ({mode})", p50, p99, worst, goals=mode == "wake-up")
            if result.lost:
                figures.append(reported(f"lost messages ({mode})", result.lost, "msgs"))
        return figures

    def _write_figures(self) -> list[Figure]:
        figures: list[Figure] = []
        for kind, label in (("orm", "ORM domain row"), ("raw", "raw-SQL domain row")):
            if self.write is None or kind not in self.write:
                continue
            plain, with_outbox = median(self.write[kind]), median(self.write[f"{kind}+outbox"])
            figures += [reported(f"8 writers, {label}", plain, "tx/s"),
                        reported(f"8 writers, {label} + outbox.publish", with_outbox, "tx/s"),
                        at_least(f"write cost ratio, {label} (with / without)", with_outbox / plain, 0.9, "x")]
        return figures

    def _scaling_figures(self) -> list[Figure]:
        if self.scaling is None:
            return []
        one, two = median(self.scaling[1]), median(self.scaling[2])
        ratio = two / one
        return [reported("1 relay process", one, "msg/s"), reported("2 relay processes", two, "msg/s"),
                at_least("scaling (2 relays / 1)", ratio, 1.0, "x",
                         f"target 1.3 {'met' if ratio >= 1.3 else 'not met'}")]

    def _growth_figures(self) -> list[Figure]:
        if self.growth is None:
            return []
        g = self.growth
        empty, full = median(g.empty), median(g.full)
        return [reported("R, empty table", empty, "msg/s", f"batch {DEFAULT_BATCH}"),
                reported(f"R, {g.retained:,} sent rows retained", full, "msg/s", f"batch {DEFAULT_BATCH}"),
                at_least("growth (retained / empty)", full / empty, 0.9, "x"),
                reported("size per pending row (with indexes)", g.bytes_pending, "B"),
                reported("size per retained sent row (with indexes)", g.bytes_sent, "B")]


def _latency_trio(label: str, p50: float, p99: float, worst: float, goals: bool) -> list[Figure]:
    if not goals:
        return [reported(f"{label} p50", p50, "ms"), reported(f"{label} p99", p99, "ms"),
                reported(f"{label} max", worst, "ms")]
    return [at_most(f"{label} p50", p50, LATENCY_GOALS["p50"], "ms"),
            at_most(f"{label} p99", p99, LATENCY_GOALS["p99"], "ms"),
            reported(f"{label} max", worst, "ms")]
