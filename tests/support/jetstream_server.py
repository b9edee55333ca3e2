"""A Jetstream replay server on 127.0.0.1: recorded events over a real websocket, with faults.

It serves GET /subscribe as Jetstream's v1 wire does: `wantedCollections` (commits of other
collections are not sent; identity and account events always are), `wantedDids`, and
`cursor` (a unix-microsecond time: only events with `time_us` >= it are replayed, in the
recorded order). Without a cursor the recording is sent as the live tail. Then the
connection stays open and quiet until the client or the server closes it.

Faults, set before a client connects (they apply to every later connection):
`garbage[i]`: messages sent before the i-th event (text, bytes, or a `Raw` frame);
`hang_up_after = n`: after n events, half a frame and the TCP connection is cut;
`silent_after = n`: after n events nothing more is sent, pongs included (websockets answers
pings from its own thread, so the server holds that thread's lock: a peer that is gone);
`drip`: seconds between the bytes of every frame; `rate`: events per second; `repeat`: the
recording sent that many times, `time_us` moved on by its span each time (for a bench);
`refuse`: the handshake answered with an HTTP status (a 429, a 400) instead.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky_stream"
RECORDING = FIXTURES / "jetstream_v1_contiguous_152_events_17_posts_8_replies_2026-07-04.jsonl"


def recorded_lines() -> list[str]:
    return RECORDING.read_text(encoding="utf-8").splitlines()


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, final websocket frame (a server's), built by hand for the raw faults."""
    length = len(payload)
    if length < 126:
        header = bytes([0x80 | opcode, length])
    elif length < 1 << 16:
        header = bytes([0x80 | opcode, 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + length.to_bytes(8, "big")
    return header + payload


class Raw(bytes):
    """Bytes sent on the socket as they are (a frame built by hand), not as a message."""


class JetstreamReplay:
    def __init__(self, lines: list[str] | None = None) -> None:
        self.lines = lines if lines is not None else recorded_lines()
        self.garbage: dict[int, list[str | bytes]] = {}
        self.hang_up_after: int | None = None
        self.silent_after: int | None = None
        self.drip = 0.0
        self.rate: float | None = None
        self.repeat = 1
        # answer the handshake with this status, body and headers instead of upgrading
        self.refuse: tuple[int, str, dict[str, str]] | None = None
        self.requests: list[str] = []  # path and query of each connection
        self._server: Server | None = None
        self._stopped = threading.Event()
        self._connections: list[ServerConnection] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.socket.getsockname()[1]
        return port

    def start(self) -> None:
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            max_size=2**20,
            compression=None,
            process_request=self._refuse,
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with suppress(Exception):
                connection.socket.close()

    def _refuse(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse is None:
            return None
        self.requests.append(request.path)
        status, body, headers = self.refuse
        response = connection.respond(status, body)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    # --- one connection -------------------------------------------------------------------

    def events(self, query: dict[str, list[str]]) -> Iterator[str]:
        """The recorded messages this subscription gets, in order."""
        collections = set(query.get("wantedCollections", []))
        dids = set(query.get("wantedDids", []))
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        parsed = [json.loads(line) for line in self.lines]
        times = [event["time_us"] for event in parsed]
        span = max(times) - min(times) + 1
        for turn in range(self.repeat):
            for line, event in zip(self.lines, parsed, strict=True):
                if dids and event.get("did") not in dids:
                    continue
                commit = event.get("commit") or {}
                if (
                    event.get("kind") == "commit"
                    and collections
                    and commit.get("collection") not in collections
                ):
                    continue
                time_us = event["time_us"] + turn * span
                if cursor is not None and time_us < cursor:
                    continue
                yield line if turn == 0 else json.dumps({**event, "time_us": time_us})

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
        request = connection.request
        assert request is not None
        self.requests.append(request.path)
        query = parse_qs(urlsplit(request.path).query)
        sent = 0
        started = time.monotonic()
        try:
            for number, line in enumerate(self.events(query)):
                for junk in self.garbage.get(number, []):
                    self._send(connection, junk)
                if self.hang_up_after is not None and sent >= self.hang_up_after:
                    whole = frame(line.encode())
                    connection.socket.sendall(whole[: len(whole) // 2])
                    connection.socket.shutdown(socket.SHUT_RDWR)
                    connection.socket.close()
                    return
                if self.silent_after is not None and sent >= self.silent_after:
                    with connection.protocol_mutex:  # not even a pong goes out
                        self._stopped.wait()
                    return
                if self.rate:
                    delay = started + sent / self.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                self._send(connection, line)
                sent += 1
            # the live tail, quiet: wait for the client to go
            while not self._stopped.is_set():
                with suppress(TimeoutError):
                    connection.recv(timeout=0.2)
        except (ConnectionClosed, OSError):
            return

    def _send(self, connection: ServerConnection, message: str | bytes) -> None:
        if isinstance(message, Raw):
            connection.socket.sendall(message)
            return
        if not self.drip:
            connection.send(message)
            return
        data = frame(
            message.encode() if isinstance(message, str) else message,
            0x1 if isinstance(message, str) else 0x2,
        )
        for index in range(len(data)):
            connection.socket.sendall(data[index : index + 1])
            if self._stopped.wait(self.drip):
                return


@contextmanager
def jetstream_replay(lines: list[str] | None = None) -> Iterator[JetstreamReplay]:
    server = JetstreamReplay(lines)
    server.start()
    try:
        yield server
    finally:
        server.stop()
