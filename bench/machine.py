"""What the numbers were measured on: CPU, memory, and the versions and settings of the services."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from pathlib import Path

from bench.broker import server_version
from bench.env import scalar

PG_SETTINGS = ("shared_buffers", "synchronous_commit", "fsync", "autovacuum")


def _proc_value(path: str, key: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return "unknown"


def machine(broker_url: str) -> dict[str, str]:
    """Name -> description, in display order."""
    mem_kib = int(_proc_value("/proc/meminfo", "MemTotal").split()[0])
    pg = ", ".join(f"{name}={scalar(f'SHOW {name}')}" for name in PG_SETTINGS)
    return {
        "CPU": f"{_proc_value('/proc/cpuinfo', 'model name')}, nproc {len(os.sched_getaffinity(0))}",
        "Memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "OS": platform.platform(),
        "PostgreSQL": f"{scalar('SHOW server_version')} ({pg})",
        "RabbitMQ": server_version(broker_url),
        "Load average (1/5/15 min, at the end)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": f"{platform.python_version()}, Django {version('Django')}, psycopg {version('psycopg')}, "
                  f"py-amqp {version('amqp')}, kombu {version('kombu')}",
    }
