"""One chaos run: start the processes, inject the scheduled faults while the producers write, restore
everything, wait (bounded) until the system has drained, stop, and check."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chaos import checker, env, faults, log
from chaos.config import Config
from chaos.env import World
from chaos.fleet import Fleet

#: How much longer than the pass limit the drain is waited for, to tell "slow" from "never".
DRAIN_GRACE = 30.0


@dataclass
class RunResult:
    config: Config
    world: World
    verdict: checker.Verdict
    faults: list[tuple[float, str, str]]
    backends_terminated: int
    exits: dict[str, int]
    unexpected: list[str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def run(config: Config) -> RunResult:
    started = time.monotonic()
    world = env.prepare(config.cluster)
    log(f"{config.mode} run, seed {config.seed}: {config.messages:,} messages over {config.keys:,} keys in "
        f"{config.seconds:.0f}s, {config.fault_total} faults; logs in {world.run_dir}")
    fleet = Fleet(config, world)
    injector = faults.Injector(world, fleet)
    timings: dict[str, float] = {}
    injecting = faults.FaultThread(injector, faults.schedule(config))
    try:
        fleet.start_all()
        _wait_flowing(fleet)
        _write_phase(config, fleet, injecting, timings)
        faults.restore_services(config.cluster)
        fleet.disable_crash_points()
        drain_seconds = _drain(fleet, config.drain_limit + DRAIN_GRACE, timings)
        _settle(fleet, 2.0)
        fleet.stop_all()
        verdict = checker.check(world, drain_seconds, config.drain_limit)
    finally:
        injecting.stop.set()
        if injecting.is_alive():
            injecting.join(timeout=180)  # let a service restart in progress finish before restoring
        try:
            fleet.stop_all()
        finally:
            faults.restore_services(config.cluster)
    return RunResult(config, world, verdict, injector.done, injector.backends_terminated, fleet.exit_counts(),
                     fleet.unexpected_exits(), time.monotonic() - started, timings)


def _wait_flowing(fleet: Fleet, bound: float = 120.0) -> None:
    """Start the fault clock once a first message went all the way through (processes start slowly)."""
    begin = time.monotonic()
    while time.monotonic() - begin < bound:
        fleet.supervise()
        if env.sql("SELECT EXISTS (SELECT 1 FROM chaos_effect)")[0][0]:
            log(f"first message applied after {time.monotonic() - begin:.1f}s; faults start")
            return
        time.sleep(0.2)
    raise RuntimeError(f"no message went through within {bound:.0f}s: see the logs")


def _write_phase(config: Config, fleet: Fleet, thread: faults.FaultThread, timings: dict[str, float]) -> None:
    """Supervise while the producers write and the fault thread works through the schedule."""
    begin = time.monotonic()
    thread.start()
    injector = thread.injector
    next_progress = begin + 10
    while thread.is_alive() or not fleet.producers_done():
        fleet.supervise()
        if time.monotonic() >= next_progress:
            next_progress += 10
            log(f"{time.monotonic() - begin:5.0f}s {_progress()}, faults {len(injector.done)}/{config.fault_total}")
        time.sleep(0.1)
    timings["writing"] = time.monotonic() - begin
    timings["last_fault"] = time.monotonic()


def _status() -> dict[str, Any]:
    [(pending, unfinished, committed, applied)] = env.sql(
        "SELECT (SELECT count(*) FROM outbox_outboxmessage WHERE status = 'pending'), "
        "(SELECT count(*) FROM inbox_inboxmessage WHERE status IN ('waiting', 'blocked')), "
        "(SELECT count(*) FROM chaos_ledgerentry), "
        "(SELECT count(DISTINCT (e.handler, e.uid)) FROM chaos_effect e JOIN chaos_ledgerentry l ON l.uid = e.uid)")
    return {"pending": pending, "unfinished": unfinished, "committed": committed, "applied": applied}


def _progress() -> str:
    try:
        s = _status()
    except Exception as exc:  # noqa: BLE001 - progress is best effort while the database restarts
        return f"(status unavailable: {type(exc).__name__})"
    return (f"committed {s['committed']:,}, outbox pending {s['pending']:,}, inbox waiting {s['unfinished']:,}, "
            f"applied {s['applied']:,}/{2 * s['committed']:,}")


def _drained() -> bool:
    """Nothing pending, waiting or queued, and every committed message applied by both handlers (the
    expensive count only once the cheap ones are zero)."""
    [(pending, unfinished)] = env.sql(
        "SELECT (SELECT count(*) FROM outbox_outboxmessage WHERE status = 'pending'), "
        "(SELECT count(*) FROM inbox_inboxmessage WHERE status IN ('waiting', 'blocked'))")
    if pending or unfinished or env.queue_depth():
        return False
    s = _status()
    return bool(s["applied"] == 2 * s["committed"])


def _drain(fleet: Fleet, bound: float, timings: dict[str, float]) -> float | None:
    """Seconds from the last fault until nothing is pending, waiting or queued and every committed message
    is applied by both handlers; None when that did not happen within ``bound`` seconds."""
    begin = timings["last_fault"]
    next_progress = begin + 10
    while time.monotonic() - begin < bound:
        fleet.supervise()
        if time.monotonic() >= next_progress:
            next_progress += 10
            log(f"draining {time.monotonic() - begin:4.0f}s: {_progress()}")
        try:
            if _drained():
                return time.monotonic() - begin
        except Exception as exc:  # noqa: BLE001 - keep waiting: the bound decides
            log(f"drain check failed: {exc!r}")
        time.sleep(0.5)
    log(f"not drained after {bound:.0f}s: {_progress()}")
    return None


def _settle(fleet: Fleet, seconds: float) -> None:
    """Keep running a little after the drain, so a late duplicate would still show up as an effect."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fleet.supervise()
        time.sleep(0.1)
