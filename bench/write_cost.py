"""Write cost: 8 concurrent writer processes committing one domain row per transaction, with and without
``outbox.publish()`` in the same transaction."""

from __future__ import annotations

import multiprocessing
import time
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from django.db import connection, connections, transaction

from bench import data
from bench.config import Config, log
from bench.env import TOPIC
from bench.stats import measured


def _transaction(seq: int, with_outbox: bool) -> None:
    """One business transaction: a domain row, plus its event when ``with_outbox``."""
    import outbox

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {data.DOMAIN_TABLE} (name, amount) VALUES (%s, %s)", [f"order-{seq}", seq])
        if with_outbox:
            outbox.publish(TOPIC, data.payload(seq))


def _writer(with_outbox: bool, seconds: float, start: Event, results: Queue) -> None:
    """Child: after the start signal, commit transactions for ``seconds``; report how many."""
    connection.ensure_connection()
    start.wait()
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        _transaction(count, with_outbox)
        count += 1
    results.put(count)


def throughput(writers: int, seconds: float, with_outbox: bool) -> float:
    """Committed transactions per second of ``writers`` processes together."""
    data.reset_outbox()
    data.create_domain_table()
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(with_outbox, seconds, start, results)) for _ in range(writers)]
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # every writer connected before the clock starts
    start.set()
    total = sum(results.get(timeout=seconds + 60) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


def write_cost(config: Config) -> dict[bool, list[float]]:
    """Transactions/s without and with the outbox write, interleaved run by run."""
    rates: dict[bool, list[float]] = {False: [], True: []}
    for run in range(config.runs):
        for with_outbox in (False, True):
            rate = measured(partial(throughput, config.writers, config.write_seconds, with_outbox), "write cost")
            rates[with_outbox].append(rate)
            label = "with outbox" if with_outbox else "domain only"
            log(f"write cost {label} run {run + 1}/{config.runs}: {rates[with_outbox][-1]:,.0f} tx/s")
    data.reset_outbox()
    return rates
