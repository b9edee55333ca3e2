"""A real HTTP server on 127.0.0.1 for end-to-end tests: routes answer with recorded payloads."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # seconds between bytes: the whole answer (status line, headers, body) is sent one byte
    # at a time, as a hostile or broken peer does to a client whose timeouts are per read
    drip: float = 0.0
    # close the connection after the request was read and handled, without answering:
    # the peer accepted the request (a Slack post is recorded) and the answer is lost
    reset_after: bool = False

    @classmethod
    def json(cls, obj: Any, status: int = 200, **headers: str) -> Reply:
        return cls(
            status, json.dumps(obj).encode(), {"Content-Type": "application/json", **headers}
        )


Route = Callable[[Request], Reply]
DROP = 0  # a Reply with this status closes the connection without answering


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout test) is expected, not a server error."""


class LocalServer:
    """Routes by path (exact match first, then the longest prefix); records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()  # ends dripping answers when the server stops

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, handler: Route | Reply) -> None:
        self.routes[path] = handler if callable(handler) else (lambda _request: handler)

    def _find(self, path: str) -> Route | None:
        if path in self.routes:
            return self.routes[path]
        prefixes = [p for p in self.routes if p.endswith("*") and path.startswith(p[:-1])]
        return self.routes[max(prefixes, key=len)] if prefixes else None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                with owner._lock:
                    owner.requests.append(request)
                route = owner._find(parts.path)
                reply = route(request) if route else Reply(404, b"no route")
                if reply.delay:
                    threading.Event().wait(reply.delay)
                if reply.status == DROP or reply.reset_after:
                    # hang up without an answer: a dropped connection, as a flapping proxy does
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.drip:
                    self._drip(reply)
                    return
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD" and reply.status not in (204, 304):
                    self.wfile.write(reply.body)

            def _drip(self, reply: Reply) -> None:
                head = f"HTTP/1.1 {reply.status} OK\r\n" + "".join(
                    f"{key}: {value}\r\n" for key, value in reply.headers.items()
                )
                head += f"Content-Length: {len(reply.body)}\r\n\r\n"
                self.close_connection = True
                stop = threading.Event()
                try:
                    for byte in head.encode() + reply.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        if stop.wait(reply.drip) or owner._stopped.is_set():
                            return
                except OSError:
                    return  # the client gave up, as it should

            do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def local_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
