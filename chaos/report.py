"""The run's summary, printed and written to docs/reliability.md (one generated block per mode, between
markers; the hand-written text around the blocks is kept)."""

from __future__ import annotations

import os
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

from chaos.config import Config
from chaos.harness import RunResult

DOCS = Path(__file__).resolve().parent.parent / "docs"
MARKDOWN = DOCS / "reliability.md"
HEADER = "# Reliability\n\nGenerated blocks are written by `python -m chaos` (chaos/); text outside them is kept.\n"


def figures(result: RunResult) -> list[tuple[str, str]]:
    """(name, value) rows: what was done to the system, then what the checker found."""
    v, exits = result.verdict, result.exits
    kinds = [kind for _, kind, detail in result.faults if not detail.startswith("FAILED")]
    failed = [f"{kind}: {detail}" for _, kind, detail in result.faults if detail.startswith("FAILED")]
    rows = [
        ("messages written", f"{v.attempted:,} (committed {v.committed:,}, rolled back on purpose "
                             f"{v.rolled_back:,}, outcome unknown to the producer {v.unknown:,} of which "
                             f"committed {v.unknown_committed:,})"),
        ("relays SIGKILLed / crashed after publish, before marking sent",
         f"{kinds.count('relay_kill')} / {exits.get('relay_crash_point', 0)}"),
        ("consumers SIGKILLed / crashed after commit, before ack",
         f"{kinds.count('consumer_kill')} / {exits.get('consumer_crash_point', 0)}"),
        ("RabbitMQ restarts", str(kinds.count("broker_restart"))),
        ("backend terminations", f"{kinds.count('backend_terminate')} ({result.backends_terminated} backends)"),
        ("PostgreSQL restarts", str(kinds.count("pg_restart"))),
        ("faults that failed to happen", "; ".join(failed) or "0"),
        ("processes that died by themselves", str(len(result.unexpected))),
        ("lost (committed, never applied)", _per_handler(v.lost)),
        ("phantom (applied, not committed)", _per_handler(v.phantom)),
        ("applied duplicates", _per_handler(v.applied_duplicates)),
        ("broker duplicates suppressed by the inbox", f"{v.suppressed_duplicates:,}"),
        ("order violations (ordered handler)", f"{v.order_violations} in {v.keys_out_of_order} keys"),
        ("key/sequence mismatches", str(v.sequence_mismatches)),
        ("stuck after the drain", ", ".join(f"{k} {n}" for k, n in sorted(v.stuck.items())) or "0"),
        ("drain after the last fault and write", "never" if v.drain_seconds is None
         else f"{v.drain_seconds:.1f} s (limit {v.drain_limit:.0f} s)"),
    ]
    return rows


def _per_handler(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return f"{total}" + ("" if not total else " (" + ", ".join(f"{h} {n}" for h, n in counts.items() if n) + ")")


def passed(result: RunResult) -> bool:
    return not problems(result)


def problems(result: RunResult) -> list[str]:
    """The verdict's failures, plus any fault that did not happen (the run did not test what it claims)."""
    missing = [f"fault failed: {kind} ({detail})" for _, kind, detail in result.faults if detail.startswith("FAILED")]
    planned = result.config.fault_total
    if len(result.faults) < planned:
        missing.append(f"only {len(result.faults)} of {planned} faults happened")
    missing += [f"no {role} ever took its crash point" for role in ("relay", "consumer")
                if not result.exits.get(f"{role}_crash_point")]
    return result.verdict.failures() + missing + [f"died by itself: {line}" for line in result.unexpected]


def print_summary(result: RunResult) -> None:
    verdict = "PASS" if passed(result) else "FAIL"
    print(f"\nchaos: {result.config.mode} run, seed {result.config.seed}, {result.seconds:.0f} s")
    width = max(len(name) for name, _ in figures(result))
    for name, value in figures(result):
        print(f"  {name:<{width}}  {value}")
    for line in result.verdict.examples[:12]:
        print(f"  ! {line}")
    for line in problems(result):
        print(f"  FAILED: {line}")
    print(f"chaos: {verdict}", flush=True)


def block(result: RunResult) -> str:
    config = result.config
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    broker = os.environ.get("BROKER_URL", "")
    lines = [f"### {config.mode.capitalize()} run: {'PASS' if passed(result) else 'FAIL'}", "",
             f"- Command: {_command(config)} (seed {config.seed}, broker {broker}, database `outbox_chaos`)",
             f"- Run on {when} ({platform.node()}, {os.cpu_count()} CPUs); took {result.seconds:.0f} s, "
             f"of which writing under faults {result.timings.get('writing', 0):.0f} s.",
             f"- {config.messages:,} messages over {config.keys:,} keys by {config.producers} producers, "
             f"{config.rollback_share:.0%} of transactions rolled back on purpose; {config.relays} relays, "
             f"{config.consumers} consumers; crash-point probabilities: relay {config.relay_crash_p} per round, "
             f"consumer {config.consumer_crash_p} per delivery.", "",
             "| figure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in figures(result)]
    lines += [f"- {line}" for line in problems(result)]
    return "\n".join(lines) + "\n"


def _command(config: Config) -> str:
    target = {"python -m chaos": "make chaos", "python -m chaos --small": "make chaos-small",
              "python -m chaos --cluster": "make chaos-cluster",
              "python -m chaos --cluster --small": "make chaos-cluster-small"}.get(config.command)
    return f"`{target}`, i.e. `{config.command}`" if target else f"`{config.command}`"


def write(result: RunResult) -> Path:
    """Replace this mode's block in docs/reliability.md (create the file if needed); returns its path."""
    mode = result.config.mode
    start, end = f"<!-- chaos:{mode}:start -->", f"<!-- chaos:{mode}:end -->"
    text = MARKDOWN.read_text() if MARKDOWN.exists() else HEADER
    generated = f"{start}\n{block(result)}{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: generated, text) if pattern.search(text) else text.rstrip("\n") + f"\n\n{generated}\n"
    DOCS.mkdir(exist_ok=True)
    MARKDOWN.write_text(text)
    return MARKDOWN
