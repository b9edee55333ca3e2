"""The shared HTTP client and the one table that maps a platform's answer to an action."""

from __future__ import annotations

import email.utils
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpcore
import httpx

from connectors import deadline, httpx_backend
from connectors.deadline import DeadlineBackend, Stamp
from connectors.errors import (
    AuthError,
    MalformedResponse,
    NotFoundError,
    RateLimited,
    TransientError,
)
from connectors.redact import redact_urls

USER_AGENT = "social-response-monitor/0.1 (+self-hosted brand monitor)"
# A feed body larger than this is refused: a 50 MB "feed" is a fault, not a feed.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Retry-After is honoured, but a platform asking for a day of silence gets an hour.
MAX_RETRY_AFTER = 3600.0


def make_client(
    *,
    timeout: float = 20.0,
    max_connections: int = 64,
    cancel: threading.Event | None = None,
) -> httpx.Client:
    """The one client every connector uses: timeouts, redirects, a User-Agent naming us.

    `timeout` is the whole of one request, redirects included: connecting, sending, and
    reading the complete answer, however slowly the peer sends it (connectors/deadline.py);
    a connection must also be made within 10 s. Setting `cancel` ends every request in
    flight within about a second and refuses new ones: the process is stopping.

    Each host may have as many connections as `[scheduler] concurrency` may ask for (at
    most 64), so the client never caps the configured fan-out (bench/poll_bench.py); the
    pipeline's `per_host` limit is what keeps us polite. With a proxy configured in the
    environment (HTTPS_PROXY and friends) httpx's own transports route through it, with the
    same deadline."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    backend = DeadlineBackend(cancel)
    transport = None if urllib.request.getproxies() else PoolPerHost(limits, backend)
    client = httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        limits=limits,
        transport=transport,
        event_hooks={"request": [Stamp(timeout)]},
    )
    for each in httpx_backend.transports(client):
        if isinstance(each, httpx.HTTPTransport):  # the proxy case's own transports
            httpx_backend.install(each, backend)
    return client


class PoolPerHost(httpx.BaseTransport):
    """httpx's transport, one connection pool per scheme, host and port.

    httpcore's pool walks every connection it holds when a request starts and again when a
    response closes (encode/httpcore#1035, open). Over 1,000 feeds on 16 hosts that walk
    was a third of a 304 poll's CPU (bench/poll_bench.py); a pool per host walks only that
    host's few connections.

    A host's pool is closed, with its kept-alive sockets, once no request to that host has
    run for `keepalive_expiry`, and the least recently used idle pools are closed at once
    beyond `max_keepalive_connections` pools: one shared pool kept at most that many idle
    sockets, and a pool per host must not keep one for each of a thousand blogs. One TLS
    context serves all pools: each of its own would load the CA bundle again."""

    def __init__(
        self, limits: httpx.Limits, backend: httpcore.NetworkBackend | None = None
    ) -> None:
        self._limits = limits
        self._backend = backend or DeadlineBackend()  # the connections of every host's pool
        self._idle_after = limits.keepalive_expiry or 0.0
        self._max_idle = limits.max_keepalive_connections  # None: no limit, as in httpx
        self._tls = httpx.create_ssl_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
        self._pools: dict[tuple[str, str, int | None], _HostPool] = {}
        self._lock = threading.Lock()
        self._pruned = time.monotonic()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port)
        with self._lock:
            pool = self._pools.get(origin)
            if pool is None:
                transport = httpx.HTTPTransport(verify=self._tls, limits=self._limits)
                httpx_backend.install(transport, self._backend)
                pool = self._pools[origin] = _HostPool(transport)
            pool.in_flight += 1  # under the lock: pruning never closes a pool handed out
        try:
            response = pool.transport.handle_request(request)
        except BaseException:
            self._release(pool)
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)  # a sync transport's body
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasedOnClose(response.stream, lambda: self._release(pool)),
            extensions=response.extensions,
        )

    def _release(self, pool: _HostPool) -> None:
        """A response to the pool's host is closed (or its request failed): close the pools
        idle for `keepalive_expiry` (looked for at most once per that time), and the least
        recently used idle ones beyond `max_keepalive_connections` pools."""
        now = time.monotonic()
        idle: list[_HostPool] = []
        with self._lock:
            pool.in_flight -= 1
            pool.last_used = now
            if now - self._pruned >= self._idle_after:
                self._pruned = now
                for origin, other in list(self._pools.items()):
                    if other.in_flight == 0 and now - other.last_used >= self._idle_after:
                        idle.append(self._pools.pop(origin))
            if self._max_idle is not None and len(self._pools) > self._max_idle:
                # a burst over more hosts than that: the least recently used idle ones go
                # now, not at the next prune (one shared pool kept that many at most)
                quiet = sorted(
                    (p.last_used, origin) for origin, p in self._pools.items() if not p.in_flight
                )
                for _, origin in quiet[: len(self._pools) - self._max_idle]:
                    idle.append(self._pools.pop(origin))
        for other in idle:
            other.transport.close()

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.transport.close()


class _HostPool:
    """One host's transport, how many of its responses are open, and when one last closed."""

    def __init__(self, transport: httpx.HTTPTransport) -> None:
        self.transport = transport
        self.in_flight = 0
        self.last_used = time.monotonic()


class _ReleasedOnClose(httpx.SyncByteStream):
    """A response body that tells its pool, once, when it is closed."""

    def __init__(self, stream: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        current = now if now is not None else time.time()
        seconds = when.timestamp() - current
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


# status -> (error class, what the operator reads). Anything else >= 400 is malformed.
_STATUS_ACTIONS: dict[int, tuple[type[Exception], str]] = {
    401: (AuthError, "the platform rejected the credentials (401): check the token env var"),
    403: (AuthError, "access denied (403): the token lacks a permission or the key is blocked"),
    408: (TransientError, "the platform timed out (408)"),
    429: (RateLimited, "rate limited (429)"),
}


def check_response(response: httpx.Response) -> None:
    """Raise the documented error for a failed response; return quietly for 2xx and 304."""
    status = response.status_code
    if status < 400 or status == 304:
        return
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 403 and response.headers.get("X-RateLimit-Remaining") == "0":
        # GitHub and others say "rate limited" with a 403 and an exhausted counter.
        reset = response.headers.get("X-RateLimit-Reset")
        if retry_after is None and reset and reset.isascii() and reset.isdigit():
            retry_after = max(0.0, min(float(reset) - time.time(), MAX_RETRY_AFTER))
        raise RateLimited(f"rate limited ({status}), waiting", retry_after=retry_after)
    if status in (404, 410):
        # the operator fixes this in the config: say where, never with the query (API keys)
        raise NotFoundError(
            f"HTTP {status} {response.reason_phrase} at {_where(response)}: check the feed's url"
        )
    if status in _STATUS_ACTIONS:
        cls, message = _STATUS_ACTIONS[status]
        if issubclass(cls, TransientError):
            raise cls(message, retry_after=retry_after)
        raise cls(message)
    if status >= 500:
        raise TransientError(f"the platform failed ({status})", retry_after=retry_after)
    raise MalformedResponse(
        f"unexpected HTTP {status} {response.reason_phrase} at {_where(response)}"
    )


def _where(response: httpx.Response) -> str:
    """The URL asked, without query, fragment or credentials: safe to show and to log."""
    try:
        url = response.request.url
    except RuntimeError:  # a response built by hand carries no request
        return "the feed's url"
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def fetch(
    client: httpx.Client,
    url: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = MAX_BODY_BYTES,
    check: Callable[[httpx.Response], None] | None = check_response,
) -> tuple[httpx.Response, bytes]:
    """The one GET of every connector: the body capped, network failures a TransientError,
    the URL in any error without its query; the client's total deadline bounds it all.

    `check` sees the response before its body is read and raises for a failed status: by
    default the table above. A connector with headers of its own to read first passes its
    own check that ends with `check_response` (Reddit's rate-limit budget). `None` returns
    any status with its (capped) body, for APIs that explain a refusal in the body (Stack
    Exchange `error_id`, Google `error.errors[].reason`, GitHub's secondary rate limits);
    the caller maps what it knows and calls `check_response` after.
    """
    try:
        with client.stream("GET", url, params=params, headers=headers) as response:
            if check is not None:
                check(response)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise MalformedResponse(f"response of {int(declared)} bytes exceeds {max_bytes}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise MalformedResponse(f"response larger than {max_bytes} bytes, refused")
                chunks.append(chunk)
            return response, b"".join(chunks)
    except httpx.TimeoutException as exc:
        late = deadline.missed(exc)
        if late is not None:
            raise TransientError(late) from exc
        raise TransientError(f"timed out fetching {redact_urls(url)}") from exc
    except httpx.TooManyRedirects as exc:
        raise MalformedResponse(
            f"a redirect loop: more than {client.max_redirects} redirects, given up"
        ) from exc
    except httpx.DecodingError as exc:
        raise MalformedResponse(
            f"the body does not decode as its Content-Encoding says: {exc}"
        ) from exc
    except httpx.TransportError as exc:
        name = exc.__class__.__name__
        raise TransientError(f"network error ({name}) fetching {redact_urls(url)}") from exc


def utc_from_timestamp(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)
