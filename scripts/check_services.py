"""Stop early, with what to start, when the test services are not reachable."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

SERVICES = {
    "DATABASE_URL": ("PostgreSQL", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "BROKER_URL": ("RabbitMQ", "rabbitmq-server -detached && rabbitmqctl await_startup"),
}


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (5432 if parts.scheme.startswith("postgres") else 5672)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=3):
            return True
    except OSError:
        return False


def main() -> int:
    missing = []
    for variable, (name, start) in SERVICES.items():
        url = os.environ.get(variable, "")
        if not reachable(url):
            missing.append(f"  {name} is not reachable at {variable}={url}\n    start it with: {start}")
    if missing:
        print("The tests need PostgreSQL and RabbitMQ:\n" + "\n".join(missing), file=sys.stderr)
        print("Or point DATABASE_URL / BROKER_URL at running ones.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
