"""A 3-node RabbitMQ cluster on this machine, beside the main node (rabbit@localhost on 5672).

Nodes ``rabbit-c1@localhost`` .. ``rabbit-c3@localhost`` listen for AMQP on 127.0.0.1:5681-5683 (Erlang
distribution on 25681-25683), with no plugins, and keep everything (data, logs, their Erlang cookie in the
``HOME`` they are given) under one directory in /tmp. ``start()`` reuses a healthy cluster, starts the nodes
that are down and joins new ones to c1; ``kill(node)`` SIGKILLs a node's Erlang VM; ``restart(node)`` starts it
again and waits until it is back in the cluster; ``stop_all()`` stops every node and removes the directory.

The tests (tests/integration/test_cluster_failover.py) and ``make chaos-cluster`` share it. As a script:
``python -m tests.cluster start|stop|status``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BASE = Path(os.environ.get("CLUSTER_DIR", "/tmp/outbox-inbox-cluster"))
#: Debian's /usr/sbin wrappers run the CLI as the rabbitmq user (another cookie, another HOME): call the real ones.
_BIN = Path("/usr/lib/rabbitmq/bin")
READY_TIMEOUT = 120


@dataclass(frozen=True)
class Node:
    """One node of the cluster."""

    index: int

    @property
    def name(self) -> str:
        return f"rabbit-c{self.index}@localhost"

    @property
    def port(self) -> int:
        return 5680 + self.index

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def home(self) -> Path:
        return BASE / f"c{self.index}"


NODES = (Node(1), Node(2), Node(3))


def node(name_or_index: str | int) -> Node:
    """The node with this index (1-3) or name (``rabbit-c2@localhost``)."""
    for candidate in NODES:
        if name_or_index in (candidate.index, candidate.name):
            return candidate
    raise ValueError(f"no cluster node {name_or_index!r}")


def urls(first: int = 1) -> list[str]:
    """The nodes' AMQP URLs, starting with node ``first`` and going round."""
    order = [*NODES[first - 1:], *NODES[:first - 1]]
    return [n.url for n in order]


def broker_url(first: int = 1) -> str:
    """kombu's failover form of :func:`urls`: the URLs joined with ``;``."""
    return ";".join(urls(first))


def start() -> None:
    """Make sure the three nodes run as one cluster; returns at once when they already do."""
    if healthy():
        return
    down = [n for n in NODES if not running(n)]
    for each in down:  # all at once: a node restarted from its data waits for the others' tables
        _launch(each)
    for each in down:
        _await(each)
    for each in NODES[1:]:
        if NODES[0].name not in _members(each):
            _join(each)
    if not healthy():
        raise RuntimeError(f"the cluster did not form: {_ctl(NODES[0], 'cluster_status', check=False)}")


def healthy() -> bool:
    """Every node runs and sees the other two running."""
    return all(running(n) for n in NODES) and all(sorted(_running_members(n)) == sorted(m.name for m in NODES)
                                                  for n in NODES)


def running(each: Node) -> bool:
    """The node's application is running (``rabbitmqctl ping`` answers)."""
    return _ctl(each, "ping", check=False, timeout=15).returncode == 0


def kill(name_or_index: str | int) -> None:
    """SIGKILL the node's Erlang VM: no goodbye to the other nodes or the clients."""
    each = node(name_or_index)
    pid = _pid(each)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        _wait_gone(pid)


def restart(name_or_index: str | int) -> None:
    """Start a killed or stopped node again and wait until the cluster is whole."""
    each = node(name_or_index)
    if not running(each):
        _launch(each)
        _await(each)
    _ctl(NODES[0] if each is not NODES[0] else NODES[1], "await_online_nodes", "3")


def stop_all() -> None:
    """Stop every node and remove the cluster's directory."""
    for each in NODES:
        pid = _pid(each)
        if pid is not None:
            _ctl(each, "stop", check=False, timeout=60)
            kill(each.index)  # when stop did not end it
    shutil.rmtree(BASE, ignore_errors=True)


def leader(queue: str, via: int | None = None) -> Node | None:
    """The node leading the quorum queue ``queue``, asked of a running node; None when none answers."""
    candidates = [node(via)] if via is not None else list(NODES)
    for each in candidates:
        result = _ctl(each, "list_queues", "--quiet", "--no-table-headers", "name", "leader", check=False,
                      timeout=30)
        if result.returncode != 0:
            continue
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == queue:
                return node(parts[1]) if parts[1] in {n.name for n in NODES} else None
    return None


def _launch(each: Node) -> None:
    _prepare(each)
    (each.home / "rabbit.pid").unlink(missing_ok=True)  # a killed node's: `wait` would give up on its dead pid
    subprocess.run([str(_BIN / "rabbitmq-server"), "-detached"], env=_env(each), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def _await(each: Node) -> None:
    """Wait until the node's pid file appears and the node has booted (``await_startup`` fails at once on a node
    that has not registered with epmd yet; ``wait`` waits for it)."""
    _ctl(each, "wait", str(each.home / "rabbit.pid"), "--timeout", str(READY_TIMEOUT), timeout=READY_TIMEOUT + 10)


def _join(each: Node) -> None:
    _ctl(each, "stop_app")
    _ctl(each, "join_cluster", NODES[0].name)
    _ctl(each, "start_app")


def _members(each: Node) -> list[str]:
    return _status_nodes(each, "disk_nodes")


def _running_members(each: Node) -> list[str]:
    return _status_nodes(each, "running_nodes")


def _status_nodes(each: Node, key: str) -> list[str]:
    """Node names from ``cluster_status`` in Erlang terms (``[{nodes, [{disc, [...]}]}, {running_nodes, [...]}]``)."""
    result = _ctl(each, "eval", _STATUS_EVAL[key], check=False, timeout=30)
    return [n.strip().strip("'") for n in result.stdout.strip().strip("[]").split(",") if n.strip()]


_STATUS_EVAL = {
    "disk_nodes": "rabbit_nodes:all().",
    "running_nodes": "rabbit_nodes:all_running().",
}


def _pid(each: Node) -> int | None:
    """The node's OS pid: its pid file, else asked of the node; None when it does not run."""
    try:
        return int((each.home / "rabbit.pid").read_text().strip())
    except (OSError, ValueError):
        result = _ctl(each, "eval", "list_to_integer(os:getpid()).", check=False, timeout=15)
        return int(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip().isdigit() else None


def _wait_gone(pid: int) -> None:
    """Wait until the process is gone: it is not our child, so wait on a pidfd (Linux 5.3+), not waitpid."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        import select

        select.select([fd], [], [], 30)
    finally:
        os.close(fd)


def _prepare(each: Node) -> None:
    each.home.mkdir(parents=True, exist_ok=True)
    cookie = BASE / "cookie"
    if not cookie.exists():
        BASE.mkdir(parents=True, exist_ok=True)
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
    target = each.home / ".erlang.cookie"
    if not target.exists():
        shutil.copyfile(cookie, target)
        target.chmod(0o400)
    (each.home / "enabled_plugins").write_text("[].\n")
    (each.home / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{each.port}\n")
    (each.home / "rabbitmq-env.conf").write_text("")


def _env(each: Node) -> dict[str, str]:
    home = str(each.home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
    env.update(
        HOME=home, RABBITMQ_NODENAME=each.name, RABBITMQ_NODE_PORT=str(each.port),
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_DIST_PORT=str(20000 + each.port),
        RABBITMQ_CTL_DIST_PORT_MIN=str(36000 + each.index * 10),  # the main node's CLI uses 35672-35682
        RABBITMQ_CTL_DIST_PORT_MAX=str(36009 + each.index * 10),
        RABBITMQ_CONF_ENV_FILE=f"{home}/rabbitmq-env.conf", RABBITMQ_CONFIG_FILE=f"{home}/rabbitmq.conf",
        RABBITMQ_ENABLED_PLUGINS_FILE=f"{home}/enabled_plugins", RABBITMQ_MNESIA_BASE=f"{home}/mnesia",
        RABBITMQ_LOG_BASE=f"{home}/log", RABBITMQ_PID_FILE=f"{home}/rabbit.pid", ERL_EPMD_ADDRESS="127.0.0.1",
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        ERL_CRASH_DUMP=f"{home}/erl_crash.dump",  # not in the caller's directory (the worktree)
    )
    return env


def _ctl(each: Node, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(_BIN / "rabbitmqctl"), "-n", each.name, *args], env=_env(each), text=True,
                            capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl -n {each.name} {' '.join(args)}: {result.stdout}{result.stderr}")
    return result


def main(argv: Sequence[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "start":
        start()
    elif command == "stop":
        stop_all()
    print("healthy" if healthy() else "not running as a cluster")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
