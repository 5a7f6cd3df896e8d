"""One peer through its runs: install and generate once, then per run a fresh backlog written with the peer's
API and the peer's own relay command timed until the backlog has arrived at the queue and the peer's table
says it is done."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import amqp
import psycopg

from bench.config import log
from bench.env import bench_database_url, recreate_database
from bench.peers.project import PeerProject
from bench.peers.queue import PeerQueue
from bench.peers.report import PeerResult
from bench.peers.spec import Peer, Target
from bench.relay_proc import stop_relay

#: Messages per transaction when filling the backlog (as bench.data does for ours).
CHUNK = 1000
#: How often the queue depth (then the peer's table) is sampled while the relay drains: 10 ms is under
#: 1% of a drain of a few seconds, and 100 passive declares a second cost the broker little.
POLL = 0.01
TIMEOUT = 600.0
#: Errors that mean "this peer could not be installed or run here": reported, and the other peers go on.
FAILURES = (subprocess.CalledProcessError, OSError, psycopg.Error, amqp.exceptions.AMQPError)


class PeerFailed(RuntimeError):
    """The peer's relay exited, stalled, or delivered another number of messages than it was given."""


@dataclass(frozen=True)
class Sample:
    at: float
    value: int


class PeerRunner:
    """Owns one peer's throwaway environment, database and queue for the whole bench run."""

    def __init__(self, peer: Peer, root: Path, server_url: str, broker_url: str) -> None:
        name = f"bench-peers.{peer.key}.{secrets.token_hex(4)}"
        self.peer = peer
        self.target = Target(bench_database_url(server_url, f"outbox_bench_peer_{peer.key}"), broker_url, name)
        self.project = PeerProject(root / peer.key, peer, self.target)
        self.result = PeerResult(peer.name, peer.confirms, peer.notes)
        self._server_url = server_url
        self._queue: PeerQueue | None = None
        self._cleanup: Callable[[], None] = lambda: None

    def setup(self) -> None:
        """Install the peer and its project; on failure the result says why and the runs are skipped."""
        reason = self.peer.precheck(self.target)
        if reason:
            self._fail(f"not run: {reason}")
            return
        try:
            self.result.versions = self.project.install()
            log(f"{self.peer.name}: installed {self.result.versions}")
            recreate_database(self._server_url, self.target.database_url.rsplit("/", 1)[1])
            self.project.generate()
            self._queue = PeerQueue(self.target.broker_url, self.target.queue)
            self._queue.declare()
            self._cleanup = self.peer.before_runs(self.target.broker_url)
        except FAILURES as exc:
            self._fail(f"could not be set up: {exc!r}")

    def measure(self, payloads: list[dict[str, Any]]) -> None:
        """One run: fill, settle, time the relay; a failure ends this peer's runs (and is reported)."""
        if self._queue is None:
            return
        try:
            self.project.sql(f"TRUNCATE {self.peer.table}")
            self.project.fill(payloads, CHUNK)
            self.project.sql(f"VACUUM (ANALYZE) {self.peer.table}")
            self.project.sql("CHECKPOINT")
            rate = self._timed_drain(len(payloads))
        except (PeerFailed, *FAILURES) as exc:
            self._fail(f"run {len(self.result.runs) + 1} failed: {exc!r} (relay log: {self.project.log})")
            return
        self.result.runs.append(rate)
        log(f"{self.peer.name} run {len(self.result.runs)}: {rate:,.0f} msg/s")

    def finish(self) -> None:
        """Remove the queue and exchange of this run, and what the peer's relay declared besides."""
        if self._queue is not None:
            self._queue.delete()
            self._queue = None
        self._cleanup()

    def _fail(self, reason: str) -> None:
        log(f"{self.peer.name}: {reason}")
        self.result.failure = reason
        if self._queue is not None:
            self.finish()

    def _timed_drain(self, count: int) -> float:
        """msg/s from the first message's arrival at the queue to the last one's (or to the commit that marks
        the last row done, if later); counts only what arrived, so a relay without confirms gains nothing."""
        assert self._queue is not None
        queue = self._queue
        queue.purge()
        with self.project.log.open("ab") as out, psycopg.connect(self.target.database_url, autocommit=True) as db:
            relay = self.project.start_relay(out)
            try:
                first = _until(relay, queue.depth, lambda depth: depth > 0)
                full = _until(relay, queue.depth, lambda depth: depth >= count)
                done = _until(relay, lambda: _count(db, self.peer.pending_sql), lambda pending: pending == 0)
            finally:
                stop_relay(relay, timeout=30)
        arrived = queue.depth()
        if arrived != count:
            raise PeerFailed(f"{arrived} messages arrived for a backlog of {count}")
        return (count - first.value) / (max(full.at, done.at) - first.at)


def _count(db: psycopg.Connection[Any], statement: str) -> int:
    row = db.execute(statement).fetchone()
    return int(row[0]) if row else 0


def _until(relay: subprocess.Popen[bytes], probe: Callable[[], int], done: Callable[[int], bool]) -> Sample:
    """Sample ``probe`` every POLL seconds until ``done`` holds; raises if the relay exits or stalls first."""
    deadline = time.perf_counter() + TIMEOUT
    while True:
        value = probe()
        at = time.perf_counter()
        if done(value):
            return Sample(at, value)
        if relay.poll() is not None:
            raise PeerFailed(f"the relay exited with status {relay.returncode} (at {value})")
        if at > deadline:
            raise PeerFailed(f"the relay stalled at {value} for {TIMEOUT:.0f} s")
        time.sleep(POLL)
