"""What a peer is: its pinned packages, its Django settings, its publish call and its relay command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """Where one peer's run goes: its own database and its own exchange/queue (both named ``queue``)."""

    database_url: str
    broker_url: str
    queue: str


@dataclass(frozen=True)
class Peer:
    """One peer library, measured through its own API and its own relay command.

    ``files`` maps a file name of the generated project to a function of the :class:`Target` returning its
    text; it must include ``publish.py`` with ``publish(payload: dict) -> None`` (called inside a transaction).
    ``relay`` is the ``manage.py`` command line of the peer's relay. ``table`` is the peer's outbox table;
    ``pending_sql`` counts its rows the relay has not done yet.
    """

    name: str
    key: str
    requirements: tuple[str, ...]
    apps: tuple[str, ...]
    files: dict[str, Callable[[Target], str]]
    relay: tuple[str, ...]
    table: str
    pending_sql: str
    confirms: str
    #: Anything about the setup the reader must know to weigh the figure.
    notes: str = ""
    #: Returns why the peer cannot run here (e.g. a protocol the broker does not speak), or None.
    precheck: Callable[[Target], str | None] = field(default=lambda target: None)
    #: Called with the broker URL before the first run; returns what to call after the last one to remove
    #: what the peer's relay declared on the broker besides ``Target.queue`` (and was not there before).
    before_runs: Callable[[str], Callable[[], None]] = field(default=lambda broker_url: lambda: None)

    @property
    def package(self) -> str:
        """The pinned requirement of the peer itself (the first one)."""
        return self.requirements[0]
