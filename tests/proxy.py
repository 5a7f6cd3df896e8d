"""A TCP proxy to the broker that a test can cut and restore: a broker outage without stopping RabbitMQ."""

from __future__ import annotations

import contextlib
import socket
import threading


class OutageProxy:
    """Forwards 127.0.0.1:<port> to ``target``. ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.replying = threading.Event()  # cleared by hold_replies(): the broker's frames wait in the proxy
        self.replying.set()
        self._sockets: list[socket.socket] = []
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
            with self._lock:
                self._sockets += [client, upstream]
            for a, b, gate in ((client, upstream, None), (upstream, client, self.replying)):
                threading.Thread(target=self._pipe, args=(a, b, gate), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, gate: threading.Event | None) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if gate is not None:
                    gate.wait()
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
                s.close()

    def restore(self) -> None:
        self.up.set()

    def hold_replies(self) -> None:
        """Keep what the broker sends (confirms, returns) in the proxy until :meth:`release_replies`:
        a broker that is slow to confirm, with the connection still up."""
        self.replying.clear()

    def release_replies(self) -> None:
        self.replying.set()

    def close(self) -> None:
        self._closed = True
        self.replying.set()
        self.cut()
        self.server.close()
