"""Figures and their goals: each value is printed next to its goal with PASS or MISS."""

from __future__ import annotations

import math
from dataclasses import dataclass

NOT_MEASURED = "not measured yet"


@dataclass(frozen=True)
class Figure:
    """One reported number; ``passed`` is None when it has no goal (reported only) or was not measured."""

    name: str
    value: float | None
    unit: str
    goal: str
    passed: bool | None
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return NOT_MEASURED
        if self.passed is None:
            return "reported"
        return "PASS" if self.passed else "MISS"

    @property
    def shown(self) -> str:
        """The value with its unit, or "n/a"."""
        if self.value is None or math.isnan(self.value):
            return "n/a"
        if self.unit == "x":
            return f"{self.value:.2f}x"
        if self.unit == "ms":
            return f"{self.value:,.1f} ms"
        return f"{self.value:,.0f} {self.unit}"


def at_least(name: str, value: float, goal: float, unit: str, detail: str = "") -> Figure:
    return Figure(name, value, unit, f">= {goal:g}{' ' + unit if unit != 'x' else 'x'}", value >= goal, detail)


def at_most(name: str, value: float, goal: float, unit: str, detail: str = "") -> Figure:
    return Figure(name, value, unit, f"<= {goal:g} {unit}", value <= goal, detail)


def reported(name: str, value: float, unit: str, detail: str = "") -> Figure:
    return Figure(name, value, unit, "-", None, detail)


def table_lines(figures: list[Figure]) -> list[str]:
    """Plain-text table for the terminal."""
    width = max(len(f.name) for f in figures)
    lines = [f"{'figure':<{width}}  {'value':>16}  {'goal':>14}  verdict"]
    for f in figures:
        lines.append(f"{f.name:<{width}}  {f.shown:>16}  {f.goal:>14}  {f.verdict}"
                     + (f"   ({f.detail})" if f.detail else ""))
    return lines
