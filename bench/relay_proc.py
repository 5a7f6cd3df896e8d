"""The relay under test in its own process: ``python -m bench.relay_proc [outbox_relay options]``.

Sets Django up exactly as the benchmark does (bench database, bench exchange), then runs the real
``manage.py outbox_relay`` command (RelayWorker with PgNotifyWaiter, or polling with ``--no-listen``).
"""

from __future__ import annotations

import signal
import subprocess
import sys

from bench import env


def main(argv: list[str]) -> None:
    env.setup_django()
    from django.core.management import call_command

    call_command("outbox_relay", *argv)


def stop_relay(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM a relay process this bench started (it stops after the work in hand); SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
