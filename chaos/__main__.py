"""``python -m chaos [--small] [--seed N]``: one fault-injection run; prints PASS or FAIL, writes
docs/reliability.md, and exits non-zero on FAIL."""

from __future__ import annotations

import signal
import sys

from chaos import harness, log, report
from chaos.config import parse_args


def main() -> int:
    config = parse_args()
    # SIGTERM ends the run as Ctrl-C does: processes stopped, RabbitMQ and PostgreSQL brought back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = harness.run(config)
    report.print_summary(result)
    if config.write_docs:
        log(f"wrote {report.write(result)}")
    return 0 if report.passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
