"""What one benchmark run measures: sizes, run counts and durations (full or ``--quick``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

FULL_MESSAGES = 100_000
QUICK_MESSAGES = 10_000
BATCH_SIZES = (100, 250, 500, 1000)
#: B_sync waits for each confirm: its rate does not depend on the count, so a sample is enough.
SYNC_MESSAGES = 5_000
#: Distinct messages of the inbox section per run (its x3 run consumes three times as many deliveries).
FULL_INBOX_MESSAGES = 20_000
QUICK_INBOX_MESSAGES = 5_000


@dataclass(frozen=True)
class Config:
    """Sizes and durations of every section; ``runs`` repeats each measurement (medians are reported)."""

    quick: bool
    runs: int
    messages: int
    sync_messages: int
    batch_sizes: tuple[int, ...]
    latency_seconds: float
    latency_rate: float
    writers: int
    write_seconds: float
    retained: int
    sections: tuple[str, ...]
    command: str
    inbox_messages: int = QUICK_INBOX_MESSAGES

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"


SECTIONS = ("baselines", "relay", "scaling", "growth", "write", "latency", "inbox")


def parse_args(argv: list[str] | None = None) -> Config:
    """Build the :class:`Config` from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="Outbox benchmarks (issue 7).")
    parser.add_argument("--quick", action="store_true", help="10,000 messages, 3 runs, short latency windows")
    parser.add_argument("--runs", type=int, default=None, help="runs per measurement (default 5; quick 3)")
    parser.add_argument("--messages", type=int, default=None, help="backlog size (default 100,000; quick 10,000)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run these sections")
    args = parser.parse_args(argv)
    messages = args.messages or (QUICK_MESSAGES if args.quick else FULL_MESSAGES)
    return Config(
        quick=args.quick,
        runs=args.runs or (3 if args.quick else 5),
        messages=messages,
        sync_messages=min(messages, SYNC_MESSAGES),
        batch_sizes=BATCH_SIZES,
        latency_seconds=3.0 if args.quick else 10.0,
        latency_rate=200.0,
        writers=8,
        write_seconds=2.0 if args.quick else 5.0,
        retained=100_000 if args.quick else 1_000_000,
        sections=tuple(args.only),
        command=" ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        inbox_messages=min(messages, QUICK_INBOX_MESSAGES if args.quick else FULL_INBOX_MESSAGES),
    )


def log(message: str) -> None:
    """Progress on stderr (the figures go to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
