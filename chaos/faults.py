"""What breaks during a run, on a seeded schedule: SIGKILLed relays and consumers, RabbitMQ restarts
(``rabbitmqctl stop_app``/``start_app``: every client connection drops), terminated database backends, and
one PostgreSQL restart. Every service fault restores the service before it returns, even when it fails.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass

from chaos import log
from chaos.config import FAULT_KINDS, Config
from chaos.env import DATABASE, World
from chaos.fleet import Fleet


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the producers started
    kind: str
    pick: int  # which process a kill hits; how long a service stays down (ms)


def schedule(config: Config) -> list[Fault]:
    """The run's faults, in time order: spread over the writing period, a seeded random order of kinds."""
    rng = random.Random(f"faults-{config.seed}")
    kinds = [kind for kind in FAULT_KINDS for _ in range(config.faults.get(kind, 0))]
    rng.shuffle(kinds)
    start, end = 0.1 * config.seconds, 0.9 * config.seconds
    slot = (end - start) / max(1, len(kinds))
    return [Fault(start + slot * (n + rng.random() * 0.8), kind, rng.randrange(1000)) for n, kind in enumerate(kinds)]


class Injector:
    """Carries faults out; counts what each did."""

    def __init__(self, world: World, fleet: Fleet) -> None:
        self.world = world
        self.fleet = fleet
        self.done: list[tuple[float, str, str]] = []  # (time, kind, detail)
        self.backends_terminated = 0

    def inject(self, fault: Fault, now: float) -> None:
        try:
            detail = getattr(self, f"_{fault.kind}")(fault)
        except Exception as exc:  # noqa: BLE001 - a fault that failed is reported (and fails the run)
            detail = f"FAILED: {exc!r}"
        self.done.append((now, fault.kind, detail))

    def _relay_kill(self, fault: Fault) -> str:
        return self.fleet.kill("relay", fault.pick)

    def _consumer_kill(self, fault: Fault) -> str:
        return self.fleet.kill("consumer", fault.pick)

    def _backend_terminate(self, fault: Fault) -> str:
        import psycopg

        with psycopg.connect(self.world.server_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", [DATABASE]).fetchone()
        count = int(row[0]) if row else 0
        self.backends_terminated += count
        return f"{count} backends"

    def _broker_restart(self, fault: Fault) -> str:
        down = 0.5 + fault.pick / 1000
        try:
            _run("rabbitmqctl", "-q", "stop_app")
            time.sleep(down)
        finally:
            _run("rabbitmqctl", "-q", "start_app")
        return f"down {down:.1f}s"

    def _node_kill(self, fault: Fault) -> str:
        """SIGKILL the cluster node leading the inbox's queue, wait for a new leader, then restart the node."""
        from inbox.conf import inbox_settings
        from tests import cluster

        queue = inbox_settings.QUEUE
        leader = cluster.leader(queue)
        if leader is None:
            raise RuntimeError(f"no leader found for queue {queue!r}")
        started = time.monotonic()
        cluster.kill(leader.index)
        survivor = cluster.NODES[leader.index % 3].index
        for _ in range(120):  # the election takes a second or two; rabbitmqctl answers each poll
            successor = cluster.leader(queue, via=survivor)
            if successor is not None and successor != leader:
                break
        cluster.restart(leader.index)
        return f"{leader.name} led {queue}; new leader {successor.name if successor else '?'}, " \
               f"node back in {time.monotonic() - started:.1f}s"

    def _pg_restart(self, fault: Fault) -> str:
        started = time.monotonic()
        try:
            _pg_ctl("restart")
        finally:
            ensure_postgres()
        return f"took {time.monotonic() - started:.1f}s"


class FaultThread(threading.Thread):
    """Works through the schedule, one fault at a time, on a clock that starts with the thread."""

    def __init__(self, injector: Injector, faults: list[Fault]) -> None:
        super().__init__(name="faults", daemon=True)
        self.injector, self.faults, self.stop = injector, faults, threading.Event()

    def run(self) -> None:
        begin = time.monotonic()
        for n, fault in enumerate(self.faults, 1):
            if self.stop.wait(max(0.0, begin + fault.at - time.monotonic())):
                return
            self.injector.inject(fault, time.monotonic() - begin)
            at, kind, detail = self.injector.done[-1]
            log(f"fault {n}/{len(self.faults)} at {at:.1f}s: {kind} ({detail})")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _pg_ctl(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    _run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action)


def ensure_postgres() -> None:
    """Start PostgreSQL if it is not accepting connections, then wait until it does (up to 60 s)."""
    if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode != 0:
        try:
            _pg_ctl("start")
        except subprocess.CalledProcessError:
            log("pg_ctlcluster start failed (already starting?)")
    for _ in range(120):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("PostgreSQL did not come back within 60 s")


def ensure_rabbitmq() -> None:
    """Start RabbitMQ's application if it is stopped (idempotent), then wait for it."""
    _run("rabbitmqctl", "-q", "start_app")
    _run("rabbitmqctl", "-q", "await_startup", "--timeout", "60")


def restore_services(cluster: bool = False) -> None:
    """Both services up, whatever happened: called before the drain and on every way out of the run. On the
    cluster, its nodes (the main RabbitMQ node is not touched)."""
    try:
        if cluster:
            from tests import cluster as nodes

            nodes.start()
        else:
            ensure_rabbitmq()
    finally:
        ensure_postgres()
