"""Write cost: 8 concurrent writer processes committing one domain row per transaction, with and without
``outbox.publish()`` in the same transaction.

Two kinds of domain row: a row written with the Django ORM (``PriceMove.objects.create``, a 5-column
model of the demo), which is how a Django service writes, and a 3-column row written with raw SQL, the
cheapest transaction a client can commit. Each is measured with and without the outbox write.
"""

from __future__ import annotations

import multiprocessing
import time
from decimal import Decimal
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from django.db import connection, connections, transaction

from bench import data
from bench.config import Config, log
from bench.env import TOPIC
from bench.stats import measured

#: Domain row kinds: "orm" (the Django ORM) and "raw" (raw SQL).
KINDS = ("orm", "raw")


def mode(kind: str, with_outbox: bool) -> str:
    """The results key of one measurement, e.g. "orm+outbox"."""
    return f"{kind}+outbox" if with_outbox else kind


def _domain_row(seq: int, kind: str) -> None:
    if kind == "orm":
        from demo_project.alerts.models import PriceMove

        PriceMove.objects.create(symbol="ACME", old_price=Decimal(100), new_price=Decimal(100 + seq % 50))
        return
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {data.DOMAIN_TABLE} (name, amount) VALUES (%s, %s)", [f"order-{seq}", seq])


def _transaction(seq: int, kind: str, with_outbox: bool) -> None:
    """One business transaction: a domain row, plus its event when ``with_outbox``."""
    import outbox

    with transaction.atomic():
        _domain_row(seq, kind)
        if with_outbox:
            outbox.publish(TOPIC, data.payload(seq))


def _writer(kind: str, with_outbox: bool, seconds: float, start: Event, results: Queue) -> None:
    """Child: after the start signal, commit transactions for ``seconds``; report how many."""
    connection.ensure_connection()
    start.wait()
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        _transaction(count, kind, with_outbox)
        count += 1
    results.put(count)


def throughput(writers: int, seconds: float, kind: str, with_outbox: bool) -> float:
    """Committed transactions per second of ``writers`` processes together."""
    data.reset_outbox()
    data.create_domain_table()
    data.reset_orm_domain()
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(kind, with_outbox, seconds, start, results))
             for _ in range(writers)]
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # every writer connected before the clock starts
    start.set()
    total = sum(results.get(timeout=seconds + 60) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


def write_cost(config: Config) -> dict[str, list[float]]:
    """Transactions/s of each domain-row kind without and with the outbox write, interleaved run by run."""
    rates: dict[str, list[float]] = {mode(kind, outbox): [] for kind in KINDS for outbox in (False, True)}
    for run in range(config.runs):
        for kind in KINDS:
            for with_outbox in (False, True):
                key = mode(kind, with_outbox)
                rates[key].append(measured(partial(throughput, config.writers, config.write_seconds, kind,
                                                   with_outbox), "write cost"))
                log(f"write cost {key} run {run + 1}/{config.runs}: {rates[key][-1]:,.0f} tx/s")
    data.reset_outbox()
    return rates
