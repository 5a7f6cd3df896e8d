"""Relay drain rate: the batch-size sweep (R), 2 relays vs 1 (scaling), and a large retained table (growth)."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from django.db import connections

from bench import data
from bench.broker import prepare_queue
from bench.config import Config, log
from bench.env import scalar
from bench.stats import Disturbed, disturbances, measured, median, timed

DEFAULT_BATCH = 500
#: Ordering keys of the keyed backlog; it holds a fifth of the backlog (20,000 messages: 200 per key).
KEYS = 100


def keyed_messages(config: Config) -> int:
    """Size of the keyed backlog: a fifth of the plain one (each claim finds at most KEYS heads)."""
    return max(KEYS, config.messages // 5)


@dataclass
class RelayRates:
    """Median msg/s per batch size, with every run kept."""

    runs: dict[int, list[float]] = field(default_factory=dict)
    keyed: list[float] = field(default_factory=list)

    def median(self, batch_size: int) -> float:
        return median(self.runs.get(batch_size, []))


def drain_all(batch_size: int) -> int:
    """Drain with one relay until a round finds nothing due; returns how many were sent."""
    from outbox.relay import Relay

    relay = Relay(batch_size=batch_size)
    sent = 0
    try:
        while (result := relay.drain()).claimed:
            sent += result.sent
    finally:
        relay.close()
    return sent


def prepare_backlog(count: int, broker_url: str, reset: bool = True, keys: int = 0) -> None:
    """A fresh pending backlog (not timed) and a purged queue.

    ``reset``: empty the outbox first; else keep other rows and only remove the previous backlog.
    """
    if reset:
        data.reset_outbox()
    elif scalar("SELECT to_regclass(%s) IS NOT NULL", [data.BACKLOG_TABLE]):
        data.remove_backlog()
    data.load_backlog(count, keys)
    data.settle()
    prepare_queue(broker_url)


def drain_rate(count: int, batch_size: int, broker_url: str, reset: bool = True, keys: int = 0) -> float:
    """msg/s of one relay in this process draining ``count`` pending messages (on ``keys`` ordering keys)."""
    prepare_backlog(count, broker_url, reset, keys)
    return timed_drain(count, batch_size, broker_url)


def timed_drain(count: int, batch_size: int, broker_url: str) -> float:
    """msg/s of draining the prepared backlog of ``count`` messages with one relay in this process."""
    sent, seconds = timed(lambda: drain_all(batch_size))
    if sent != count:
        raise Disturbed(f"relay sent {sent} of {count} messages")
    prepare_queue(broker_url)
    return sent / seconds


def sweep(config: Config, broker_url: str) -> RelayRates:
    """R for each batch size, runs interleaved across batch sizes so drift hits all alike; then, at the
    default batch size, the same backlog spread over KEYS ordering keys (only each key's head is claimable)."""
    rates = RelayRates({b: [] for b in config.batch_sizes})
    for run in range(config.runs):
        for batch_size in config.batch_sizes:
            rate = measured(partial(drain_rate, config.messages, batch_size, broker_url),
                            f"relay batch={batch_size}")
            rates.runs[batch_size].append(rate)
            log(f"relay batch={batch_size} run {run + 1}/{config.runs}: {rate:,.0f} msg/s")
        rate = measured(partial(drain_rate, keyed_messages(config), DEFAULT_BATCH, broker_url, keys=KEYS),
                        "relay keyed")
        rates.keyed.append(rate)
        log(f"relay {KEYS} keys run {run + 1}/{config.runs}: {rate:,.0f} msg/s")
    return rates


def _relay_process(batch_size: int, start: Event, results: Queue) -> None:
    """Child: wait for the start signal, drain, report (sent, wall-clock end)."""
    connections["default"].ensure_connection()
    start.wait()
    try:
        sent = drain_all(batch_size)
    except disturbances() as exc:
        results.put((-1, repr(exc)))
        return
    results.put((sent, time.perf_counter()))


def parallel_drain_rate(count: int, relays: int, broker_url: str) -> float:
    """msg/s of ``relays`` relay processes draining one backlog of ``count`` (start to last finish)."""
    prepare_backlog(count, broker_url)
    connections.close_all()  # children must not share the parent's socket
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_relay_process, args=(DEFAULT_BATCH, start, results)) for _ in range(relays)]
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # let every child connect to the database first
    began = time.perf_counter()
    start.set()
    outcomes = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    failed = [detail for sent, detail in outcomes if sent < 0]
    if failed or sum(s for s, _ in outcomes) != count:
        raise Disturbed(f"{relays} relays: {failed or 'not every message sent'}")
    prepare_queue(broker_url)
    return count / (max(end for _, end in outcomes) - began)


def scaling(config: Config, broker_url: str) -> dict[int, list[float]]:
    """Drain rate of 1 and of 2 relay processes on the same backlog, interleaved."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    for run in range(config.runs):
        for relays in (1, 2):
            rates[relays].append(measured(partial(parallel_drain_rate, config.messages, relays, broker_url),
                                          f"scaling relays={relays}"))
            log(f"scaling relays={relays} run {run + 1}/{config.runs}: {rates[relays][-1]:,.0f} msg/s")
    return rates


@dataclass
class Growth:
    """Relay rate with an empty table vs with ``retained`` sent rows kept; bytes per row of each."""

    retained: int
    empty: list[float] = field(default_factory=list)
    full: list[float] = field(default_factory=list)
    bytes_pending: float = 0.0
    bytes_sent: float = 0.0


def growth(config: Config, broker_url: str, empty: list[float] | None = None) -> Growth:
    """R at the default batch size with ``config.retained`` sent rows retained vs an empty table.

    ``empty``: the sweep's runs at the default batch size (measured the same way); measured here if None.
    """
    result = Growth(config.retained, empty=list(empty or []))
    for run in range(0 if result.empty else config.runs):
        result.empty.append(measured(lambda: drain_rate(config.messages, DEFAULT_BATCH, broker_url), "growth empty"))
        log(f"growth empty run {run + 1}/{config.runs}: {result.empty[-1]:,.0f} msg/s")
    result.bytes_pending = pending_row_size(config.messages)
    log(f"growth: inserting {config.retained:,} sent rows")
    data.add_retained(config.retained)
    data.settle()
    result.bytes_sent = data.bytes_per_row()
    for run in range(config.runs):
        result.full.append(measured(lambda: drain_rate(config.messages, DEFAULT_BATCH, broker_url, reset=False),
                                    "growth retained"))
        log(f"growth retained run {run + 1}/{config.runs}: {result.full[-1]:,.0f} msg/s")
    data.reset_outbox()
    return result


def pending_row_size(count: int) -> float:
    """Bytes per row (heap, TOAST, indexes) of ``count`` fresh pending messages; leaves the outbox empty."""
    data.reset_outbox()
    data.load_backlog(count)
    data.settle()
    size = data.bytes_per_row()
    data.reset_outbox()
    return size
