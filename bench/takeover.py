"""Takeover stall: every relay is SIGKILLed mid-drain of a keyed backlog and a new one starts; how long
does a key wait between two of its messages? ``python -m bench.takeover [--relays N] [--code DIR]``.

The keys whose heads the dead relays had claimed wait for those leases to run out (OUTBOX_LEASE_SECONDS),
then for the new relay's next poll. Runs on a database (``outbox_bench_takeover``) and an exchange and
queue of its own, so it disturbs no other benchmark or test. ``--code`` runs the relays from another
checkout (e.g. an export of an older commit: the "before" figure), the rest from this one.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from bench import baselines, env
from bench.config import log

DATABASE = "outbox_bench_takeover"
KEYS = 100
PER_KEY = 100
#: Fraction of the backlog delivered when every relay is killed.
KILL_AT = 0.3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.takeover", description=__doc__)
    parser.add_argument("--relays", type=int, default=2, help="relays killed mid-drain (default 2)")
    parser.add_argument("--code", default=str(Path(__file__).resolve().parents[1]), help="checkout the relays run")
    args = parser.parse_args(argv)
    name = f"bench.takeover.{os.getpid()}"
    _environment(name)
    env.setup_django(migrate=True)
    from bench import data

    data.reset_outbox()
    data.add_backlog(KEYS * PER_KEY, KEYS)
    keys = dict(env.sql("SELECT id::text, key FROM outbox_outboxmessage"))
    receipts = _Receipts(os.environ["BROKER_URL"], name)
    try:
        killed_at = _kill_mid_drain(args.code, args.relays, len(keys), receipts)
    finally:
        receipts.close()
    _report(keys, receipts.times, killed_at)


def _environment(exchange: str) -> None:
    """This process and its children on the takeover database (recreated) and exchange."""
    server_url = os.environ.get("DATABASE_URL", env.DEFAULT_DATABASE_URL)
    env.recreate_database(server_url, DATABASE)
    os.environ.update({"DATABASE_URL": env.bench_database_url(server_url, DATABASE), env.BENCH_ENV: "1",
                       env.SERVER_URL_ENV: server_url, env.EXCHANGE_ENV: exchange})
    os.environ.setdefault("BROKER_URL", env.DEFAULT_BROKER_URL)


class _Receipts:
    """A consumer thread on a queue of its own: when each message id first arrived (wall clock)."""

    def __init__(self, url: str, name: str) -> None:
        self.times: dict[str, float] = {}
        self._conn = baselines._amqp_connect(url)
        self._name = name
        channel = self._conn.channel()
        channel.exchange_declare(name, "topic", durable=True, auto_delete=False)
        channel.queue_declare(name, durable=True, auto_delete=False)
        channel.queue_bind(name, name, "#")
        self._tag = channel.basic_consume(name, no_ack=True, callback=lambda m: self.times.setdefault(
            str(m.properties.get("message_id")), time.time()))
        self._channel, self._stop = channel, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._conn.drain_events(timeout=0.05)
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._channel.basic_cancel(self._tag)
        self._channel.queue_delete(self._name)
        self._channel.exchange_delete(self._name)
        self._conn.close()


def _kill_mid_drain(code: str, relays: int, count: int, receipts: _Receipts) -> float:
    """Start ``relays`` relays, SIGKILL them all once KILL_AT of the backlog arrived, start a new one and
    wait for the rest; returns the time of the kill."""
    started = [_relay(code) for _ in range(relays)]
    _wait(lambda: len(receipts.times) >= KILL_AT * count, "the first part of the backlog")
    for proc in started:
        os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    for proc in started:
        proc.wait()
    log(f"killed {relays} relay(s) with {len(receipts.times):,} of {count:,} messages delivered")
    successor = _relay(code)
    try:
        _wait(lambda: len(receipts.times) >= count, "the rest of the backlog", timeout=300)
    finally:
        successor.send_signal(signal.SIGTERM)
        successor.wait(timeout=30)
    return killed_at


def _relay(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench.relay_proc"], cwd=code,
                            env={**os.environ, "PYTHONPATH": code})


def _wait(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def _report(keys: dict[str, str], times: dict[str, float], killed_at: float) -> None:
    """Per key, the longest gap between two consecutive arrivals; printed as max and median over keys."""
    by_key: dict[str, list[float]] = defaultdict(list)
    for message_id, at in times.items():
        by_key[keys[message_id]].append(at)
    stalls = [max(b - a for a, b in pairwise(sorted(ts))) for ts in by_key.values() if len(ts) > 1]
    first_after = min(at for at in times.values() if at > killed_at) - killed_at
    print(f"takeover stall: longest wait of a key {max(stalls):.1f} s, median over {len(stalls)} keys "
          f"{statistics.median(stalls):.1f} s; first message after the kill {first_after:.1f} s")


if __name__ == "__main__":
    main()
