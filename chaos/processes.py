"""The processes of a chaos run: ``python -m chaos.processes relay|consumer|producer INDEX SEED [CRASH_P]``.

The relay and the consumer are the library's own commands (``outbox_relay``, ``inbox_consume``) with
one crash point patched in, taken with a seeded probability while the run directory holds the file
``crash-points`` (the harness removes it for the drain):

- relay: after the broker's verdict on a batch, before it is recorded (``Relay._record``): the batch is
  on the broker but still pending in the outbox; it is published again once the lease runs out.
- consumer: right after ``Processor.deliver`` returned, before the ack: the handler's transaction has
  committed; the broker redelivers the message and the inbox must suppress it.

Both exit with ``os._exit`` (no cleanup, as a SIGKILL). The consumer also appends every DUPLICATE
outcome to a file, so the report can count broker-level duplicates that the inbox suppressed.
The producer writes messages and their ledger rows in one transaction, rolls back a share of them on
purpose (their uids go to a file) and survives database outages (uids of failed transactions go to
another file: whether they committed is decided by the ledger).
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from chaos.config import CONSUMER_CRASH_EXIT, RELAY_CRASH_EXIT

TOPIC = "chaos.event"


def _crash_now(rng: random.Random, p: float) -> bool:
    return rng.random() < p and Path(os.environ["CHAOS_RUN_DIR"], "crash-points").exists()


def run_relay(index: int, seed: int, crash_p: float) -> None:
    from django.core.management import call_command

    from outbox.relay import Relay

    rng = random.Random(f"relay-{index}-{seed}")
    record = Relay._record

    def record_or_crash(self: Relay, *args: Any, **kwargs: Any) -> None:
        if _crash_now(rng, crash_p):
            os._exit(RELAY_CRASH_EXIT)
        record(self, *args, **kwargs)

    Relay._record = record_or_crash  # type: ignore[method-assign]
    call_command("outbox_relay", "--interval", "0.5")


def run_consumer(index: int, seed: int, crash_p: float) -> None:
    from django.core.management import call_command

    from inbox.processing import Outcome, Processor

    rng = random.Random(f"consumer-{index}-{seed}")
    deliver = Processor.deliver
    duplicates = _append(f"duplicates-{index}.txt")

    def deliver_or_crash(self: Processor, message: Any, spec: Any) -> Outcome:
        outcome = deliver(self, message, spec)
        if outcome is Outcome.DUPLICATE:
            duplicates(f"{spec.name} {message.id}")
        if _crash_now(rng, crash_p):
            os._exit(CONSUMER_CRASH_EXIT)
        return outcome

    Processor.deliver = deliver_or_crash  # type: ignore[method-assign]
    if os.environ.get("CHAOS_QUEUE_TYPE") == "quorum":
        from chaos.env import declare_as_quorum

        declare_as_quorum()
    call_command("inbox_consume")


def run_producer(index: int, seed: int, messages: int, keys: int, seconds: float, rollback_share: float) -> None:
    """Write ``messages`` messages in transactions of 1 to 5, evenly over ``seconds``."""
    from django.db import DatabaseError, close_old_connections

    rng = random.Random(f"producer-{index}-{seed}")
    rolled_back, unknown = _append(f"rolled_back-{index}.txt"), _append(f"unknown-{index}.txt")
    started, written = time.monotonic(), 0
    while written < messages:
        batch = [(uuid.UUID(int=rng.getrandbits(128)).hex, f"key-{rng.randrange(keys)}")
                 for _ in range(min(messages - written, rng.randint(1, 5)))]
        rollback = rng.random() < rollback_share
        try:
            _write(index, batch, rollback)
        except _RolledBack:
            rolled_back(*(uid for uid, _ in batch))
        except DatabaseError:
            unknown(*(uid for uid, _ in batch))
            close_old_connections()
            time.sleep(0.2)
        written += len(batch)
        time.sleep(max(0.0, started + seconds * written / messages - time.monotonic()))


class _RolledBack(Exception):
    """Raised inside the producer's transaction to roll it back on purpose."""


def _write(index: int, batch: list[tuple[str, str]], rollback: bool) -> None:
    from django.db import transaction

    import outbox
    from chaos.models import LedgerEntry

    with transaction.atomic():
        rows = outbox.publish_many(outbox.OutgoingMessage(TOPIC, {"uid": uid}, key=key) for uid, key in batch)
        LedgerEntry.objects.bulk_create(LedgerEntry(uid=uid, message_id=row.id, key=key, seq=row.seq, producer=index)
                                        for (uid, key), row in zip(batch, rows, strict=True))
        if rollback:
            raise _RolledBack


def _append(name: str) -> Any:
    """A function that appends lines to a file of the run directory (written through at once: the process
    may be killed right after)."""
    path = Path(os.environ["CHAOS_RUN_DIR"], name)

    def write(*lines: str) -> None:
        with path.open("a") as handle:
            handle.write("".join(f"{line}\n" for line in lines))

    return write


def main(argv: list[str]) -> None:
    import django

    django.setup()
    role, index, seed, *rest = argv
    if role == "relay":
        run_relay(int(index), int(seed), float(rest[0]))
    elif role == "consumer":
        run_consumer(int(index), int(seed), float(rest[0]))
    elif role == "producer":
        messages, keys, seconds, share = rest
        run_producer(int(index), int(seed), int(messages), int(keys), float(seconds), float(share))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
