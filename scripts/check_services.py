"""Stop early, with what to start or install, when the test services or the test browser are missing.

``make test`` runs this first: without it a fresh machine finds out minutes later, from failing tests.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

SERVICES = {
    "DATABASE_URL": ("PostgreSQL", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "BROKER_URL": ("RabbitMQ", "rabbitmq-server -detached && rabbitmqctl await_startup"),
}
#: The browser the admin's acceptance test (tests/acceptance/test_admin_browser.py) drives through Playwright.
CHROMIUM = "/usr/bin/chromium"


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    port = parts.port or (5432 if parts.scheme.startswith("postgres") else 5672)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=3):
            return True
    except OSError:
        return False


def problems(environ: Mapping[str, str], *, chromium: str = CHROMIUM, check_urls: bool = True) -> list[str]:
    """One message per missing piece, each saying what to do; [] when the tests can run."""
    found = []
    for variable, (name, start) in SERVICES.items() if check_urls else ():
        url = environ.get(variable, "")
        if not reachable(url):
            found.append(f"  {name} is not reachable at {variable}={url}\n    start it with: {start}")
    if not os.access(chromium, os.X_OK):
        found.append(f"  Chromium is not installed at {chromium} (the admin browser test): "
                     "install it with: apt-get install chromium")
    return found


def main() -> int:
    found = problems(os.environ)
    if found:
        print("The tests need PostgreSQL, RabbitMQ and Chromium:\n" + "\n".join(found), file=sys.stderr)
        print("Or point DATABASE_URL / BROKER_URL at running services.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
