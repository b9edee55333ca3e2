"""A TCP proxy on 127.0.0.1 that a test can cut: one process's road to PostgreSQL.

`blackhole()` stops relaying in both directions while keeping every socket open, as a network
that silently drops packets does (the client's kernel sees its bytes acknowledged by the
proxy, and no answer ever comes); new connections are accepted and hang the same way.
`heal()` relays again, including what was held back. `reset()` closes every connection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._accept, name="proxy accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._relay, args=(a, b), daemon=True).start()

    def _relay(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self._flowing.wait()  # a blackhole holds what it read
                if self._closed.is_set():
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def blackhole(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self._flowing.set()

    def reset(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with suppress(OSError):
                s.close()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        self._listener.close()
        self.reset()


@contextmanager
def tcp_proxy(host: str, port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy((host, port))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
