"""A local WebSocket server playing Slack's side of Socket Mode: hello, envelopes, acks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.slack.support import fixture


@dataclass
class Ack:
    body: dict[str, Any]
    after: float  # seconds from sending the envelope to receiving its ack


@dataclass
class SocketModeServer:
    """Sends `hello` on connect, then whatever `send` is given; records every ack."""

    server: Server
    paths: list[str] = field(default_factory=list)
    acks: dict[str, Ack] = field(default_factory=dict)
    _sent_at: dict[str, float] = field(default_factory=dict)
    _connection: ServerConnection | None = None
    _connected: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=12348&app_id=5678"

    def handle(self, connection: ServerConnection) -> None:
        self.paths.append(connection.request.path if connection.request else "")
        connection.send(json.dumps(fixture("socket_mode_hello_from_docs.json")))
        self._connection = connection
        self._connected.set()
        try:
            for raw in connection:
                message = json.loads(raw)
                envelope_id = message.get("envelope_id")
                with self._lock:
                    if envelope_id in self._sent_at:
                        after = time.monotonic() - self._sent_at[envelope_id]
                        self.acks[envelope_id] = Ack(message, after)
        except ConnectionClosed:
            pass

    def send(self, envelope: dict[str, Any], timeout: float = 10.0) -> None:
        assert self._connected.wait(timeout), "the client never connected"
        assert self._connection is not None
        with self._lock:
            self._sent_at[envelope["envelope_id"]] = time.monotonic()
        self._connection.send(json.dumps(envelope))

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.01)
        raise AssertionError(f"no ack for {envelope_id} within {timeout}s")


@contextmanager
def socket_mode_server() -> Iterator[SocketModeServer]:
    holder: list[SocketModeServer] = []
    server = serve(lambda connection: holder[0].handle(connection), "127.0.0.1", 0)
    holder.append(SocketModeServer(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        thread.join(10)
