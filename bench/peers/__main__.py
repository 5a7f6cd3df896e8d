"""``python -m bench.peers [--runs 3] [--messages 5000]``: our relay and each peer's on the same backlog.

Runs are interleaved (ours, then each peer, run after run) so that drift on the machine hits all alike.
Our relay runs in this process on its own database (outbox_bench_peers), exactly as ``bench.relay_rate``
measures R; each peer runs in its throwaway environment (bench/peers/runner.py). Writes the
``bench:peers`` block of docs/benchmarks.md and prints the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from bench import env
from bench.config import log
from bench.peers import celery_outbox, outbox_pattern
from bench.peers.report import PeerResult, block, table_lines
from bench.peers.runner import PeerRunner
from bench.peers.spec import Peer

PEERS: dict[str, Peer] = {p.key: p for p in (outbox_pattern.PEER, celery_outbox.PEER)}
DATABASE = "outbox_bench_peers"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description="Our relay against peer libraries.")
    parser.add_argument("--runs", type=int, default=3, help="runs per relay (default 3); medians are reported")
    parser.add_argument("--messages", type=int, default=5000, help="backlog size (default 5,000)")
    parser.add_argument("--only", nargs="+", choices=sorted(PEERS), default=sorted(PEERS), help="these peers")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway directory (to read relay logs)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    env.setup_django(migrate=True, database=DATABASE)
    from bench import data, relay_rate
    from bench.stats import measured

    _, broker_url = env.prepare_environ(DATABASE)
    payloads = [data.payload(seq) for seq in range(args.messages)]
    ours = PeerResult(f"django-outbox-inbox (ours), batch {relay_rate.DEFAULT_BATCH}", "yes (overlapping batches)",
                      f"`Relay(batch_size={relay_rate.DEFAULT_BATCH}).drain()` in a loop, timed from the first "
                      "claim to the last confirm and mark (bench.relay_rate, as R)", {})
    root = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    runners = [PeerRunner(PEERS[key], root, os.environ[env.SERVER_URL_ENV], broker_url) for key in args.only]
    try:
        for runner in runners:
            runner.setup()
        for run in range(args.runs):
            ours.runs.append(measured(partial(relay_rate.drain_rate, args.messages, relay_rate.DEFAULT_BATCH,
                                              broker_url), "ours"))
            log(f"ours run {run + 1}/{args.runs}: {ours.runs[-1]:,.0f} msg/s")
            for runner in runners:
                runner.measure(payloads)
    finally:
        for runner in runners:
            runner.finish()
        _remove(root, args.keep)
    _publish(args, ours, [r.result for r in runners], broker_url, time.perf_counter() - started)


def _remove(root: Path, keep: bool) -> None:
    import shutil

    if keep:
        log(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


def _publish(args: argparse.Namespace, ours: PeerResult, peers: list[PeerResult], broker_url: str,
             seconds: float) -> None:
    """Write the bench:peers block of docs/benchmarks.md and print the table."""
    from bench import machine
    from bench.report import write_block

    ours.versions = {ours.name: _our_version()}
    command = " ".join(["python -m bench.peers", *sys.argv[1:]])
    heading = [f"Command: `make bench-peers`, i.e. `DATABASE_URL={os.environ.get(env.SERVER_URL_ENV, '')} "
               f"BROKER_URL={broker_url} .venv/bin/{command}`",
               f"Run on {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; took {seconds / 60:.1f} min.",
               f"Parameters: {args.runs} runs per relay, interleaved; backlog {args.messages:,} messages of "
               "~1 KiB JSON (the same payloads for every relay), persistent, to a durable queue."]
    write_block("peers", block(ours, peers, machine.machine(broker_url), heading))
    log("wrote the bench:peers block of docs/benchmarks.md")
    print("\n".join(table_lines(ours, peers)))


def _our_version() -> str:
    """The version in pyproject.toml (the repository is measured as it is, not an installed release)."""
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    return str(tomllib.loads(pyproject.read_text())["project"]["version"])


if __name__ == "__main__":
    main()
