"""The signed Slack HTTP endpoint: a front that caps and reads the body, then Bolt's dispatch.

Bolt checks the signature and its 5-minute timestamp window, acknowledges and runs the
listeners; this module does what Bolt's built-in server does not
(`slack_bolt.App.start` reads `Content-Length` bytes, whatever the number: `-1` reads until
the peer stops sending):

- the body is refused before it is read when it is larger than `MAX_BODY`, declared with
  no length (chunked), a negative or malformed length, or more than one length;
- the whole request must arrive within `REQUEST_DEADLINE` seconds, so a peer dripping a
  byte a second frees its thread; at most `MAX_CONNECTIONS` are served at once;
- a signed request seen before is refused (`ReplayGuard`): Slack's signature stays valid
  for five minutes, so a captured request could otherwise be played again.

Other paths can be served on the same port behind the same front (`routes`): the Meta
webhook (monitor/webhooks/meta.py) is one, given here by the command that starts us.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

log = logging.getLogger(__name__)

HTTP_PATH = "/slack/events"
# A click's payload carries the clicked message, URL-encoded JSON: 22 kB for a short alert,
# 33 kB for one whose every text is at its cap in emoji (measured 2026-12-04). 4x that:
MAX_BODY = 128 * 1024
REQUEST_DEADLINE = 10.0  # request line, headers and body; Slack sends all of it at once
MAX_CONNECTIONS = 64
# After refusing an unread body: read and drop at most this much so the peer can read the
# answer before the socket closes (a close with unread data resets the connection).
LINGER_BYTES = 256 * 1024
LINGER_SECONDS = 0.5
SIGNATURE_WINDOW = 5 * 60  # slack_sdk.signature.SignatureVerifier refuses older timestamps
_LENGTH = re.compile(r"[0-9]{1,15}")
# What Slack sends; anything else is refused here, because slack_sdk's verifier raises on a
# timestamp that is not an integer or a signature that is not ASCII (a 500 and a traceback).
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


@dataclass(frozen=True)
class RouteAnswer:
    """What a route answers: a status and a short body."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


# method ("GET" or "POST"), body (b"" for a GET), query string, headers (names lower-case)
Route = Callable[[str, bytes, str, Mapping[str, str]], RouteAnswer]


class ReplayGuard(Middleware):
    """Bolt middleware after the signature check: each signature is accepted once."""

    def __init__(
        self, *, clock: Callable[[], float] = time.time, max_entries: int = 100_000
    ) -> None:
        self.clock = clock  # the clock SignatureVerifier judges timestamps by
        self.max_entries = max_entries
        self._seen: set[str] = set()
        self._expiry: list[tuple[float, str]] = []  # heap: when a signature is stale anyway
        self._lock = threading.Lock()

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if req.mode == "socket_mode":
            return next()  # Slack's own WebSocket: nothing signed, nothing to replay
        signature = req.headers.get("x-slack-signature", [""])[0]
        timestamp = req.headers.get("x-slack-request-timestamp", ["0"])[0]
        if not self._first_time(signature, timestamp):
            return BoltResponse(status=401, body={"error": "replayed request"})  # logged below
        return next()

    def _first_time(self, signature: str, timestamp: str) -> bool:
        now = self.clock()
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                self._seen.discard(heapq.heappop(self._expiry)[1])
            if signature in self._seen:
                return False
            if len(self._seen) >= self.max_entries:
                return False  # a flood of validly signed requests: refuse rather than grow
            self._seen.add(signature)
            # the verifier accepted it, so the timestamp is an integer within the window
            heapq.heappush(self._expiry, (int(timestamp) + SIGNATURE_WINDOW + 1, signature))
            return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], slots: int
    ) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(slots)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.close_request(request)  # every slot is taken: a flood, or peers dripping
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("slack: HTTP connection from %s ended badly", client_address[0], exc_info=True)


class HttpListener:
    """POST /slack/events on `host:port`, answered by a Bolt app that verifies signatures,
    and the `routes` given (each checks its own signature); `app` None serves routes only."""

    def __init__(
        self,
        app: App | None,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        max_body: int = MAX_BODY,
        deadline: float = REQUEST_DEADLINE,
        max_connections: int = MAX_CONNECTIONS,
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        self.app = app
        self.routes = dict(routes or {})
        self.max_body = max_body
        self.deadline = deadline
        self.server = _Server((host, port), self._handler(), max_connections)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{HTTP_PATH}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="slack-http", daemon=True
        )
        self._thread.start()
        log.info(
            "HTTP endpoint listening on %s:%s for %s",
            *self.server.server_address[:2],
            ", ".join(([HTTP_PATH] if self.app else []) + sorted(self.routes)),
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = owner.deadline  # per socket operation; the watchdog bounds the total

            def handle(self) -> None:
                watchdog = threading.Timer(owner.deadline, self._hang_up)
                watchdog.daemon = True
                watchdog.start()
                try:
                    super().handle()
                finally:
                    watchdog.cancel()

            def _hang_up(self) -> None:
                """Past the deadline: wake the reading thread with end-of-file."""
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                route = owner.routes.get(path)
                if route is None:
                    return self._refuse(404)
                self._send(route("GET", b"", query, _lower(self.headers.items())))
                return None

            def do_POST(self) -> None:
                path, _, query = self.path.partition("?")
                route = owner.routes.get(path)
                if route is None and (path != HTTP_PATH or owner.app is None):
                    return self._refuse(404)
                length = self._length()
                if isinstance(length, str):
                    return self._refuse(411 if length == "none" else 400)
                if length > owner.max_body:
                    log.warning("slack: refused a %d-byte body (cap %d)", length, owner.max_body)
                    return self._refuse(413)
                body = self.rfile.read(length)
                if len(body) < length:
                    self.close_connection = True
                    return None  # the peer went away (or the deadline passed) mid-body
                if route is not None:
                    self._send(route("POST", body, query, _lower(self.headers.items())))
                else:
                    self._answer(owner.dispatch(body, query, self.headers.items()))
                return None

            def _length(self) -> int | str:
                """The declared body length, or why there is none we accept."""
                if self.headers.get_all("Transfer-Encoding"):
                    return "none"  # chunked: Slack always sends Content-Length
                values = self.headers.get_all("Content-Length") or []
                if not values:
                    return "none"
                if len(values) > 1 or not _LENGTH.fullmatch(values[0].strip()):
                    return "malformed"  # -1, 1e9, two lengths: refused, never guessed
                return int(values[0])

            def _refuse(self, status: int) -> None:
                """Answer without reading the body, then close the connection."""
                self.close_connection = True
                self.send_response(status)
                self.send_header("Connection", "close")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.wfile.flush()
                _linger(self.connection)

            def _answer(self, response: BoltResponse) -> None:
                body = response.body.encode() if isinstance(response.body, str) else b""
                self.send_response(response.status)
                for name, values in response.headers.items():
                    if name.lower() != "content-length":
                        for value in values:
                            self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send(self, answer: RouteAnswer) -> None:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # request lines would log Slack's response_url query strings

        return Handler

    def dispatch(
        self, body: bytes, query: str, raw_headers: Iterable[tuple[str, str]]
    ) -> BoltResponse:
        """Bolt's turn: signature, replay, shape, then the listeners (ack first)."""
        headers = {name.lower(): value for name, value in raw_headers}
        stamp = headers.get("x-slack-request-timestamp") or ""
        signature = headers.get("x-slack-signature") or ""
        if not (_TIMESTAMP.fullmatch(stamp) and _SIGNATURE.fullmatch(signature)):
            log.warning("slack: refused a request with a bad, stale or replayed signature")
            return BoltResponse(status=401, body="")
        try:
            request = BoltRequest(body=body.decode("utf-8"), query=query, headers={**headers})
        except (UnicodeDecodeError, ValueError, TypeError, AttributeError):
            # not UTF-8, a `payload` that is not a JSON object: nothing Slack sends
            return BoltResponse(status=400, body="")
        assert self.app is not None  # do_POST routes here only with an app
        response = self.app.dispatch(request)
        if response.status == 401:  # Bolt logs the cause at INFO with the body: not for us
            log.warning("slack: refused a request with a bad, stale or replayed signature")
        return response


def _lower(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names in lower case; of a repeated header, the last value."""
    return {name.lower(): value for name, value in items}


def _linger(connection: socket.socket) -> None:
    """Half-close, then drop what the peer still sends, up to a bound, before the close."""
    try:
        connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        dropped = 0
        while dropped < LINGER_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            connection.settimeout(left)
            chunk = connection.recv(65536)
            if not chunk:
                break
            dropped += len(chunk)
    except OSError:
        pass
