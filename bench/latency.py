"""Latency at a steady publishing rate: commit -> broker confirm and commit -> consumer receipt.

The relay runs as ``outbox_relay`` in its own process, woken by LISTEN/NOTIFY or polling only; a
consumer process stamps each message's arrival. Commit times are stamped by an on_commit callback
registered before ``outbox.publish`` (so it runs first, right after COMMIT returns).
"""

from __future__ import annotations

import multiprocessing
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from functools import partial

from django.db import connections, transaction

from bench import data
from bench.broker import consume, prepare_queue
from bench.config import Config, log
from bench.env import OUTBOX_TABLE, TOPIC, sql
from bench.relay_proc import stop_relay
from bench.stats import measured, median, percentile

MODES = {"wake-up": [], "polling": ["--no-listen"]}
WARMUP_MESSAGES = 20
SETTLE_TIMEOUT = 10.0


@dataclass
class Latency:
    """Per run: p50/p99/max in milliseconds of both latencies; lost = messages never received."""

    confirm: list[tuple[float, float, float]] = field(default_factory=list)
    receipt: list[tuple[float, float, float]] = field(default_factory=list)
    lost: int = 0

    def summary(self, which: str) -> tuple[float, float, float]:
        """(median p50, median p99, max of the maxima) over the runs."""
        runs = self.confirm if which == "confirm" else self.receipt
        return median([r[0] for r in runs]), median([r[1] for r in runs]), max((r[2] for r in runs), default=0.0)


def _publish_one(seq: int) -> tuple[str, float]:
    """Commit one message in its own transaction; returns (message id, commit time)."""
    import outbox

    stamp: list[float] = []
    with transaction.atomic():
        transaction.on_commit(lambda: stamp.append(time.time()))
        message = outbox.publish(TOPIC, data.payload(seq))
    return str(message.id), stamp[0]


def publish_paced(rate: float, seconds: float, first_seq: int) -> dict[str, float]:
    """Publish at a steady ``rate`` for ``seconds``; returns {message id: commit time}."""
    commits: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        message_id, committed = _publish_one(first_seq + i)
        commits[message_id] = committed
    return commits


def wait_sent(ids: list[str], timeout: float = SETTLE_TIMEOUT) -> dict[str, float]:
    """Wait until every message has a sent_at; returns {message id: sent_at as epoch seconds}."""
    deadline = time.monotonic() + timeout
    while True:
        rows = sql(f"SELECT id::text, sent_at FROM {OUTBOX_TABLE} WHERE id = ANY(%s::uuid[]) "
                   "AND sent_at IS NOT NULL", [ids])
        if len(rows) == len(ids) or time.monotonic() > deadline:
            return {i: s.timestamp() for i, s in rows}
        time.sleep(0.1)


def start_relay(flags: list[str]) -> subprocess.Popen[bytes]:
    """Start ``outbox_relay`` (via bench.relay_proc) and wait for its "running" line."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.relay_proc", *flags], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    if not ready or b"running" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError("outbox_relay did not start")
    return proc


def _stats(latencies_ms: list[float]) -> tuple[float, float, float]:
    return percentile(latencies_ms, 50), percentile(latencies_ms, 99), max(latencies_ms, default=0.0)


def measure_mode(config: Config, flags: list[str], broker_url: str) -> Latency:
    """All runs of one mode with one relay process and one consumer process."""
    data.reset_outbox()
    prepare_queue(broker_url)
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    receiver, sender = ctx.Pipe(duplex=False)
    consumer = ctx.Process(target=consume, args=(broker_url, ready, stop, sender))
    consumer.start()
    ready.wait(30)
    relay = start_relay(flags)
    try:
        runs = _runs(config)
    finally:
        stop_relay(relay)
        stop.set()
    receipts: dict[str, float] = receiver.recv()
    consumer.join()
    return _latency(runs, receipts)


def _runs(config: Config) -> list[tuple[dict[str, float], dict[str, float]]]:
    """Publish a warm-up, then each run's messages; returns per run ({id: commit}, {id: sent_at})."""
    wait_sent(list(publish_paced(config.latency_rate, WARMUP_MESSAGES / config.latency_rate, 0)))
    runs = []
    for run in range(config.runs):
        commits = publish_paced(config.latency_rate, config.latency_seconds, (run + 1) * 1_000_000)
        runs.append((commits, wait_sent(list(commits))))
    time.sleep(0.5)  # the consumer receives what was confirmed last
    return runs


def _latency(runs: list[tuple[dict[str, float], dict[str, float]]], receipts: dict[str, float]) -> Latency:
    result = Latency()
    for commits, sent in runs:
        result.confirm.append(_stats([(sent[i] - c) * 1000 for i, c in commits.items() if i in sent]))
        result.receipt.append(_stats([(receipts[i] - c) * 1000 for i, c in commits.items() if i in receipts]))
        result.lost += sum(1 for i in commits if i not in receipts)
    return result


def latency(config: Config, broker_url: str) -> dict[str, Latency]:
    """Both modes: LISTEN/NOTIFY wake-up, and polling only (default 1 s interval)."""
    results = {}
    for mode, flags in MODES.items():
        results[mode] = measured(partial(measure_mode, config, flags, broker_url), f"latency {mode}")
        p50, p99, worst = results[mode].summary("receipt")
        log(f"latency {mode}: commit->receipt p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms")
    data.reset_outbox()
    return results
