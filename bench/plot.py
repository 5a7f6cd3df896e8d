"""docs/benchmarks.png: relay rate vs batch size against the baselines, and latency per mode."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bench.results import LATENCY_GOALS, Results
from bench.stats import median

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LATENCY_BARS = (("confirm", "commit->confirm"), ("receipt", "commit->receipt"))
BAR_COLORS = ("#9ecae1", "#3182bd", "#fdae6b", "#e6550d")
INBOX_COLORS = ("#a1d99b", "#31a354", "#756bb1")


def plot(results: Results, path: Path, title: str) -> None:
    """Write the figure (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate_ax, latency_ax, inbox_ax) = plt.subplots(1, 3, figsize=(17, 4.8))
    _relay_panel(rate_ax, results)
    _latency_panel(latency_ax, results)
    _inbox_panel(inbox_ax, results)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _relay_panel(ax: Axes, results: Results) -> None:
    """Median R per batch size (each run as a dot), the baselines and the goal lines."""
    if results.relay is not None:
        sizes = sorted(results.relay.runs)
        ax.plot(sizes, [results.relay.median(b) for b in sizes], "o-", color="C0", label="R (relay, median)")
        for b in sizes:
            ax.scatter([b] * len(results.relay.runs[b]), results.relay.runs[b], color="C0", alpha=0.3, s=12)
    if results.b_stream:
        stream, sync = median(results.b_stream), median(results.b_sync)
        ax.axhline(stream, color="C2", label=f"B_stream {stream:,.0f}")
        ax.axhline(0.7 * stream, color="C2", linestyle="--", label="goal 0.7 x B_stream")
        ax.axhline(sync, color="C3", label=f"B_sync {sync:,.0f}")
        ax.axhline(5 * sync, color="C3", linestyle="--", label="goal 5 x B_sync")
    ax.set_xscale("log")
    ax.set_xticks(sorted(results.relay.runs) if results.relay else [], minor=False)
    ax.get_xaxis().set_major_formatter("{x:.0f}")
    ax.set_xlabel("batch size (messages per relay round)")
    ax.set_ylabel("messages / second")
    ax.set_ylim(bottom=0)
    ax.set_title("Relay drain rate vs batch size")
    ax.legend(fontsize=8)


def _latency_panel(ax: Axes, results: Results) -> None:
    """p50 and p99 of both latencies per mode (log scale), with the wake-up goals."""
    latency = results.latency or {}
    modes = list(latency)
    if not modes:
        ax.text(0.5, 0.5, "latency not measured in this run", ha="center", transform=ax.transAxes)
    for offset, (which, label) in enumerate(LATENCY_BARS):
        for k, stat in enumerate(("p50", "p99")):
            xs = [i + (offset * 2 + k - 1.5) * 0.2 for i in range(len(modes))]
            ax.bar(xs, [latency[m].summary(which)[k] for m in modes], width=0.2, label=f"{label} {stat}",
                   color=BAR_COLORS[offset * 2 + k])
    for (stat, goal), style in zip(LATENCY_GOALS.items(), (":", "--"), strict=True):
        ax.axhline(goal, color="grey", linestyle=style, label=f"goal {stat} (wake-up) {goal:g} ms")
    ax.set_xticks(range(len(modes)), modes)
    ax.set_yscale("log")
    ax.set_ylabel("milliseconds (log)")
    ax.set_title("Latency at 200 msg/s")
    ax.legend(fontsize=7)


def _inbox_panel(ax: Axes, results: Results) -> None:
    """Median deliveries/s of the inbox consumer per mode (each run as a dot), with the 0.8 goal lines."""
    rates = results.inbox_rates
    if rates is None:
        ax.text(0.5, 0.5, "inbox not measured in this run", ha="center", transform=ax.transAxes)
        return
    from bench.inbox_hooks import DEDUP_GOAL, DUPLICATES_GOAL
    from bench.inbox_rate import WITH, WITHOUT

    modes = list(rates.runs)
    ax.bar(range(len(modes)), [median(rates.runs[m]) for m in modes], color=INBOX_COLORS[: len(modes)])
    for i, mode in enumerate(modes):
        ax.scatter([i] * len(rates.runs[mode]), rates.runs[mode], color="black", alpha=0.4, s=12)
    ax.axhline(DEDUP_GOAL * median(rates.runs[WITHOUT]), color="grey", linestyle="--",
               label=f"goal with dedup: {DEDUP_GOAL:g} x without")
    ax.axhline(DUPLICATES_GOAL * median(rates.runs[WITH]), color="grey", linestyle=":",
               label=f"goal x3: {DUPLICATES_GOAL:g} x with dedup")
    ax.set_xticks(range(len(modes)), modes)
    ax.set_ylabel("deliveries / second")
    ax.set_title(f"Inbox consumer, {rates.messages:,} messages")
    ax.legend(fontsize=8)
