"""A Mastodon streaming server double on 127.0.0.1: replays recorded server-sent events.

Each connection to /api/v1/streaming/... takes the next `Plan` queued with `serve` (or the
default one): the recorded messages, then what the plan says (hang up in the middle of a
message, stay silent, drip bytes), at a set rate. Requests are recorded (path, query,
headers) so a test can check the token and the tag sent.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon_stream"
USER_STREAM = "streaming_user_sse_update_notification_mention_status.update_delete_localhost_2026-08_mastodonpy.txt"  # noqa: E501


def messages(body: bytes) -> list[bytes]:
    """A recorded text/event-stream body cut into what the server wrote at once: each
    comment line (a heartbeat) alone, each event with its closing blank line."""
    out: list[bytes] = []
    pending = b""
    for line in body.splitlines(keepends=True):
        if not pending and line.startswith(b":"):
            out.append(line if line.endswith(b"\n") else line + b"\n")
        elif line.strip():
            pending += line
        elif pending:
            out.append(pending + line)
            pending = b""
    if pending:
        out.append(pending + b"\n")
    return out


def recorded(name: str = USER_STREAM) -> list[bytes]:
    return messages((FIXTURES / name).read_bytes())


def events_only(parts: list[bytes]) -> list[bytes]:
    return [part for part in parts if not part.startswith(b":")]


# what a broken or hostile server sends: each is one message the connector must skip
GARBAGE = [
    b"event: update\ndata: {this is not json\n\n",
    b'event: update\ndata: {"hello": "no id"}\n\n',
    b'event: update\ndata: {"id": "1", "content": "\x00"}\n\n',
    b"event: notification\ndata: \xff\xfe not utf-8\n\n",
    b"event: mystery\ndata: 42\n\n",
    b"event: delete\ndata: two words\n\n",
    # fields of the wrong type: a list or a string for an account
    b'event: update\ndata: {"id": "5", "created_at": "2026-08-02T05:22:17Z", "account": [1]}\n\n',
    b'event: notification\ndata: {"id": "6", "type": "mention", "status": {"id": "7", '
    b'"created_at": "2026-08-02T05:22:17Z", "account": "admin"}}\n\n',
]


@dataclass
class Plan:
    """What one connection gets.

    parts: the messages, in order. rate: messages per second (None: as fast as possible).
    repeat: send `parts` this many times (a bench). hang_up_after: after that many messages,
    send half of the next and close. silent_after: after that many, send nothing more and
    keep the connection open (until the client leaves or the server stops). drip: seconds
    between bytes. status: an HTTP error to answer instead (with `body`). location: a redirect.
    require_token: 401 without an Authorization header.
    """

    parts: list[bytes] = field(default_factory=recorded)
    rate: float | None = None
    repeat: int = 1
    hang_up_after: int | None = None
    silent_after: int | None = None
    drip: float = 0.0
    status: int = 200
    body: bytes = b""
    content_type: str = "text/event-stream; charset=utf-8"
    # answer 301 to this URL (a streaming server on another host)
    location: str | None = None
    # answer 401 to a request without an Authorization header, as Mastodon does
    require_token: bool = False


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class SSEServer:
    def __init__(self) -> None:
        self.plans: list[Plan] = []
        self.default = Plan()
        self.requests: list[Seen] = []
        self.sent = 0  # messages written in full, over all connections
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, *plans: Plan) -> None:
        """The plans of the next connections, in order; later ones get `default`."""
        with self._lock:
            self.plans.extend(plans)

    def _next(self) -> Plan:
        with self._lock:
            return self.plans.pop(0) if self.plans else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                with server._lock:
                    server.requests.append(
                        Seen(
                            split.path,
                            parse_qs(split.query),
                            {k.lower(): v for k, v in self.headers.items()},
                        )
                    )
                plan = server._next()
                if plan.location:
                    self.send_response(301)
                    self.send_header("Location", plan.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if plan.require_token and "Authorization" not in self.headers:
                    plan = Plan(status=401, body=b'{"error":"Missing access token"}')
                if plan.status != 200:
                    self.send_response(plan.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(plan.body)))
                    self.end_headers()
                    self.wfile.write(plan.body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", plan.content_type)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()  # no length, no chunking: the body ends when we close
                self.close_connection = True
                with contextlib.suppress(OSError):  # the client left
                    self._replay(plan)

            def _write(self, data: bytes, drip: float) -> None:
                if not drip:
                    self.wfile.write(data)
                    self.wfile.flush()
                    return
                for i in range(len(data)):
                    if server.stopped.wait(drip):
                        return
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()

            def _replay(self, plan: Plan) -> None:
                gap = 1.0 / plan.rate if plan.rate else 0.0
                start = time.monotonic()
                count = 0
                for _ in range(plan.repeat):
                    for part in plan.parts:
                        if plan.hang_up_after is not None and count == plan.hang_up_after:
                            self._write(part[: max(1, len(part) // 2)], plan.drip)
                            return
                        if plan.silent_after is not None and count == plan.silent_after:
                            server.stopped.wait()
                            return
                        if gap:
                            wait = start + count * gap - time.monotonic()
                            if wait > 0 and server.stopped.wait(wait):
                                return
                        self._write(part, plan.drip)
                        count += 1
                        with server._lock:
                            server.sent += 1
                if plan.silent_after is not None:
                    server.stopped.wait()

        return Handler

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def sse_server() -> Iterator[SSEServer]:
    started = SSEServer()
    started.start()
    try:
        yield started
    finally:
        started.stop()
