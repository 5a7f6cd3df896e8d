"""The run's processes: started, restarted whenever they die (as systemd or Kubernetes would), and stopped.

Each slot (``relay-0``, ``consumer-1``, ``producer-0``...) logs to its own file in the run directory and
counts how its incarnations ended: SIGKILL, an injected crash point, a clean stop, or anything else
(an unexpected exit: a worker that died by itself).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from chaos.config import CONSUMER_CRASH_EXIT, RELAY_CRASH_EXIT, Config
from chaos.env import REPO, World

RESTARTED = ("relay", "consumer")


@dataclass
class Slot:
    name: str
    role: str
    index: int
    process: subprocess.Popen[bytes] | None = None
    incarnations: int = 0
    exits: Counter[int] = field(default_factory=Counter)


class Fleet:
    """All processes of the run. Thread-safe: the fault thread kills while the main thread supervises."""

    def __init__(self, config: Config, world: World) -> None:
        self.config = config
        self.world = world
        self.slots = [Slot(f"{role}-{i}", role, i) for role, count in
                      (("relay", config.relays), ("consumer", config.consumers), ("producer", config.producers))
                      for i in range(count)]
        self._lock = threading.RLock()

    def start_all(self) -> None:
        self.world.file("crash-points").touch()
        for slot in self.slots:
            self._start(slot)

    def _arguments(self, slot: Slot) -> list[str]:
        config = self.config
        if slot.role == "producer":
            return [str(config.messages // config.producers + (slot.index < config.messages % config.producers)),
                    str(config.keys), str(config.seconds), str(config.rollback_share)]
        crash_p = config.relay_crash_p if slot.role == "relay" else config.consumer_crash_p
        return [str(crash_p)]

    def _start(self, slot: Slot) -> None:
        seed = self.config.seed * 1000 + slot.incarnations
        log = self.world.file(f"{slot.name}.log").open("ab")
        slot.process = subprocess.Popen(
            [sys.executable, "-m", "chaos.processes", slot.role, str(slot.index), str(seed), *self._arguments(slot)],
            cwd=REPO, env=self.world.child_env(BROKER_URL=self.world.broker_url_from(self._first_node(slot))),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        slot.incarnations += 1

    @staticmethod
    def _first_node(slot: Slot) -> int:
        """The node a process lists first (on a cluster): relays from node 1 on, consumers from node 2 on."""
        return (slot.index + (slot.role == "consumer")) % 3 + 1

    def supervise(self) -> None:
        """Record how dead relays and consumers ended and start them again."""
        with self._lock:
            for slot in self.slots:
                if slot.role in RESTARTED and slot.process is not None and slot.process.poll() is not None:
                    slot.exits[slot.process.returncode] += 1
                    self._start(slot)

    def kill(self, role: str, pick: int) -> str:
        """SIGKILL one live process of ``role`` (the ``pick``-th, modulo how many); returns its name."""
        with self._lock:
            slots = [s for s in self.slots if s.role == role and s.process is not None and s.process.poll() is None]
            if not slots:
                return "none alive"
            slot = slots[pick % len(slots)]
            assert slot.process is not None
            slot.process.send_signal(signal.SIGKILL)
            slot.process.wait()
            return slot.name

    def producers_done(self) -> bool:
        return all(s.process is not None and s.process.poll() is not None for s in self.slots if s.role == "producer")

    def disable_crash_points(self) -> None:
        """From now on no process takes its crash point (the drain)."""
        self.world.file("crash-points").unlink(missing_ok=True)

    def stop_all(self) -> None:
        with self._lock:
            self._stop(self.slots)

    def _stop(self, slots: list[Slot], grace: float = 15.0) -> None:
        live = [s for s in slots if s.process is not None and s.process.poll() is None]
        for slot in live:
            assert slot.process is not None
            slot.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for slot in live:
            assert slot.process is not None
            try:
                slot.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()
        for slot in slots:
            if slot.process is not None and slot.process.returncode is not None and slot.role in RESTARTED:
                slot.exits[slot.process.returncode] += 1
                slot.process = None

    def exit_counts(self) -> dict[str, int]:
        """How relays and consumers ended: killed, crashed at their crash point, stopped, or unexpectedly."""
        counts: Counter[str] = Counter()
        for slot in self.slots:
            if slot.role not in RESTARTED:
                continue
            crash = RELAY_CRASH_EXIT if slot.role == "relay" else CONSUMER_CRASH_EXIT
            for code, n in slot.exits.items():
                kind = {-signal.SIGKILL: "killed", crash: "crash_point", 0: "stopped",
                        -signal.SIGTERM: "stopped"}.get(code, "unexpected")
                counts[f"{slot.role}_{kind}"] += n
        return dict(counts)

    def unexpected_exits(self) -> list[str]:
        """Processes that died by themselves (a producer that did not finish cleanly included), with the tail
        of their log."""
        found = []
        for slot in self.slots:
            codes = {c for c in slot.exits if c not in (0, -signal.SIGKILL, -signal.SIGTERM, RELAY_CRASH_EXIT,
                                                         CONSUMER_CRASH_EXIT)}
            if slot.role == "producer" and slot.process is not None and slot.process.returncode not in (
                    None, 0, -signal.SIGTERM):
                codes.add(slot.process.returncode)
            if codes:
                tail = self.world.file(f"{slot.name}.log").read_text(errors="replace").splitlines()[-5:]
                found.append(f"{slot.name} exited with {sorted(codes)}: " + " | ".join(tail))
        return found
