"""What one chaos run does: how many messages, over how many keys, and how many faults of each kind."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field, replace

#: Exit codes of the injected crash points (os._exit), told apart from SIGKILL (-9) and clean stops (0).
RELAY_CRASH_EXIT = 17
CONSUMER_CRASH_EXIT = 18
#: The handlers under test (chaos/handlers.py): one ordered per key, one not.
ORDERED_HANDLER = "chaos-ordered"
PLAIN_HANDLER = "chaos-plain"
#: The harness's fault kinds, in the order the report lists them.
FAULT_KINDS = ("relay_kill", "consumer_kill", "broker_restart", "backend_terminate", "pg_restart", "node_kill")


@dataclass(frozen=True)
class Config:
    """Sizes, fault counts and pass thresholds of one run (default size, or ``--small`` for CI)."""

    seed: int
    small: bool
    messages: int
    keys: int
    seconds: float  # producers spread the messages over this long; the faults fall inside it
    faults: dict[str, int] = field(default_factory=dict)
    producers: int = 2
    relays: int = 2
    consumers: int = 2
    rollback_share: float = 0.10
    relay_crash_p: float = 0.01  # per relay round that got the broker's verdict (crash before marking sent)
    consumer_crash_p: float = 0.002  # per delivery applied (crash after commit, before the ack)
    drain_limit: float = 60.0
    write_docs: bool = True
    command: str = ""
    cluster: bool = False  # on the 3-node cluster of tests/cluster.py, quorum queues; faults kill queue leaders

    @property
    def mode(self) -> str:
        size = "small" if self.small else "default"
        return f"cluster-{size}" if self.cluster else size

    @property
    def fault_total(self) -> int:
        return sum(self.faults.values())


DEFAULT = Config(seed=1, small=False, messages=20_000, keys=1_000, seconds=400.0,
                 faults={"relay_kill": 20, "consumer_kill": 20, "broker_restart": 3, "backend_terminate": 10,
                         "pg_restart": 1})
SMALL = Config(seed=1, small=True, messages=2_000, keys=1_000, seconds=40.0,
               faults={"relay_kill": 3, "consumer_kill": 3, "broker_restart": 1, "backend_terminate": 2,
                       "pg_restart": 1},
               relay_crash_p=0.02, consumer_crash_p=0.004)


def parse_args(argv: list[str] | None = None) -> Config:
    """The :class:`Config` for a command line."""
    parser = argparse.ArgumentParser(prog="python -m chaos",
                                     description="Fault-injection run of outbox → RabbitMQ → inbox (issue 8).")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data, the fault schedule and the crash points")
    parser.add_argument("--small", action="store_true", help="about 2,000 messages and fewer faults (CI)")
    parser.add_argument("--messages", type=int, default=None, help="messages to write (rolled back ones included)")
    parser.add_argument("--seconds", type=float, default=None, help="how long the producers write and faults happen")
    parser.add_argument("--keys", type=int, default=None, help="ordering keys the messages are spread over")
    parser.add_argument("--only", nargs="+", choices=FAULT_KINDS, default=list(FAULT_KINDS),
                        help="inject only these kinds of faults (development: spare the shared services)")
    parser.add_argument("--cluster", action="store_true",
                        help="run on a 3-node RabbitMQ cluster (started beside the main node) with quorum queues; "
                             "faults SIGKILL the node leading the inbox queue, and relays and consumers")
    parser.add_argument("--no-docs", action="store_true", help="do not write the result to docs/reliability.md")
    args = parser.parse_args(argv)
    base = SMALL if args.small else DEFAULT
    if args.cluster:  # the shared RabbitMQ and PostgreSQL are left alone: the faults are the cluster's
        base = replace(base, cluster=True, faults={"relay_kill": base.faults["relay_kill"],
                                                   "consumer_kill": base.faults["consumer_kill"],
                                                   "node_kill": 2 if args.small else 6})
    argv_text = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return replace(base, seed=args.seed, messages=args.messages or base.messages, keys=args.keys or base.keys,
                   seconds=args.seconds or base.seconds,
                   faults={kind: n for kind, n in base.faults.items() if kind in args.only},
                   write_docs=not args.no_docs,
                   command=f"python -m chaos {argv_text}".strip())
