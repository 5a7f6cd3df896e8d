"""The peers table: medians of each relay's runs and the ratio of ours to each (no Django, no services)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.stats import median


@dataclass
class PeerResult:
    """One relay's runs (msg/s); ``failure`` says why it has fewer runs than asked, or none."""

    name: str
    confirms: str
    notes: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)
    failure: str | None = None

    @property
    def version(self) -> str:
        return self.versions.get(self.name, "-")

    @property
    def median(self) -> float:
        return median(self.runs)


def ratio(ours: PeerResult, peer: PeerResult) -> float:
    """Median of ours over median of the peer; NaN when either has no run."""
    if not ours.runs or not peer.runs:
        return math.nan
    return ours.median / peer.median


def _rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def _ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def table_lines(ours: PeerResult, peers: list[PeerResult]) -> list[str]:
    """Markdown table: one row per relay, ours first; a peer without runs says why instead of a rate."""
    lines = ["| relay | version | publisher confirms | median msg/s | runs msg/s | ours / this |",
             "| --- | --- | --- | ---: | --- | ---: |"]
    for result in (ours, *peers):
        runs = ", ".join(_rate(r) for r in result.runs) or "-"
        if result.failure:
            runs = f"{runs} ({result.failure})" if result.runs else result.failure
        shown = "1.00x" if result is ours and result.runs else _ratio(ratio(ours, result))
        lines.append(f"| {result.name} | {result.version} | {result.confirms} | {_rate(result.median)} | {runs} "
                     f"| {shown} |")
    return lines


def versions_lines(peers: list[PeerResult]) -> list[str]:
    """One line per peer: what its throwaway environment held (pinned, installed from the registry)."""
    return [f"{p.name}: " + (", ".join(f"{name} {v}" for name, v in p.versions.items()) or "not installed")
            for p in peers]


def block(ours: PeerResult, peers: list[PeerResult], machine: dict[str, str], heading: list[str]) -> str:
    """The generated markdown of one peers run; ``heading``: the lines saying how it was run."""
    lines = ["### Peers run", "", *[f"- {line}" for line in heading], "", "| machine | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in machine.items()]
    lines += ["", *table_lines(ours, peers), "", "Throwaway environments (pinned, from the package registry):", ""]
    lines += [f"- {line}" for line in versions_lines(peers)]
    lines += ["", "How each relay ran:", ""]
    lines += [f"- {result.name}: {result.notes}" for result in (ours, *peers)]
    return "\n".join(lines) + "\n"
