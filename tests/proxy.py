"""A TCP proxy to the broker that a test can cut and restore: a broker outage without stopping RabbitMQ.

``freeze()`` makes the connections open now half-open instead: bytes in either direction are swallowed and
neither end learns that anything happened (no FIN, no RST), as when a NAT or firewall forgets a connection.
Only a heartbeat notices that. New connections are forwarded as usual. ``hold_replies()`` keeps what the
broker sends in the proxy until ``release_replies()``: a broker slow to confirm, its connections still up.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class _Link:
    """One proxied connection: the client's socket, the upstream socket, and whether it is frozen."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.frozen = threading.Event()


class OutageProxy:
    """Forwards 127.0.0.1:<port> to ``target``. ``cut()`` drops every connection and refuses new ones;
    ``freeze()`` silently stops forwarding on every connection open now."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.accepted = 0  # connections forwarded so far
        self.dropped_by_target = 0  # connections that the target (the broker) closed
        self._links: list[_Link] = []
        self.replying = threading.Event()  # cleared by hold_replies(): the broker's frames wait in the proxy
        self.replying.set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, template: str = "amqp://guest:guest@127.0.0.1:{port}//") -> str:
        return template.format(port=self.port)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self._lock:
                self._links.append(link)
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(link, a, b), daemon=True).start()

    def _pipe(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if source is link.upstream:
                    self.replying.wait()
                if not link.frozen.is_set():
                    sink.sendall(data)
        if source is link.upstream:
            with self._lock:
                self.dropped_by_target += 1
        # A frozen link tells the client nothing, not even that the broker closed its side.
        ends = (source, sink) if not link.frozen.is_set() or source is link.client else (source,)
        for s in ends:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def freeze(self) -> None:
        """Every connection open now stops forwarding, silently, for good; new ones are forwarded."""
        with self._lock:
            for link in self._links:
                link.frozen.set()

    def hold_replies(self) -> None:
        """Keep what the broker sends (confirms, returns) in the proxy until :meth:`release_replies`:
        a broker that is slow to confirm, with the connection still up."""
        self.replying.clear()

    def release_replies(self) -> None:
        self.replying.set()

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            for s in (link.client, link.upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self._closed = True
        self.replying.set()
        self.cut()
        self.server.close()
