"""A total deadline for every platform request, and its cancellation when the process stops.

httpx's timeouts are per operation: a peer that sends one byte a second never lets a read
time out, so a request could last for ever (and a SIGTERM wait for it). Here each request
is stamped, before it is sent, with the moment it must be over (`stamp`, an httpx request
hook); the stamp travels inside the request's own timeout values, which httpcore hands to
every connect, read and write of that request, redirects included. The network backend
below (httpcore's documented `NetworkBackend` interface) waits at most the time left, in
slices of a second so that a cancellation (`cancel`, set when the process stops) ends a
wait within a second.

How the backend gets into httpx's transports is the one internal this needs:
`connectors/httpx_backend.py`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from ssl import SSLContext
from typing import Any

import httpcore
import httpx

# The longest single wait on a socket: how soon a cancellation is seen by a waiting read.
SLICE = 1.0


class Until(float):
    """A per-operation timeout (the float) that also carries its request's deadline."""

    deadline: float  # time.monotonic() by which the whole request must be over
    total: float  # the seconds it was given, for the message

    def __new__(cls, seconds: float, deadline: float, total: float) -> Until:
        value = super().__new__(cls, seconds)
        value.deadline = deadline
        value.total = total
        return value


class Stamp:
    """The request hook that gives each request `total` seconds, its redirects included."""

    def __init__(self, total: float) -> None:
        self.total = total

    def __call__(self, request: httpx.Request) -> None:
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        if any(isinstance(value, Until) for value in timeouts.values()):
            return  # a redirect: the first request's deadline still holds
        deadline = time.monotonic() + self.total
        request.extensions["timeout"] = {
            key: Until(
                min(value, self.total) if value is not None else self.total, deadline, self.total
            )
            for key, value in timeouts.items()
        }


class _Ended(Exception):
    """Marks the errors raised here, whatever httpx maps them to (see `missed`, `cancelled`)."""


class _DeadlineMissed(_Ended):
    pass


class _Cancelled(_Ended):
    pass


class ConnectDeadline(_DeadlineMissed, httpcore.ConnectTimeout):
    pass


class ReadDeadline(_DeadlineMissed, httpcore.ReadTimeout):
    pass


class WriteDeadline(_DeadlineMissed, httpcore.WriteTimeout):
    pass


class ConnectCancelled(_Cancelled, httpcore.ConnectError):
    pass


class ReadCancelled(_Cancelled, httpcore.ReadError):
    pass


class WriteCancelled(_Cancelled, httpcore.WriteError):
    pass


def _cause(exc: BaseException, kind: type[_Ended]) -> _Ended | None:
    """The error of `kind` raised here that `exc` was raised from, if any (httpx and the
    connectors re-raise ours `from` it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def missed(exc: BaseException) -> str | None:
    """What to tell the operator when `exc` comes from a request that ran out of time."""
    found = _cause(exc, _DeadlineMissed)
    return str(found) if found is not None else None


def cancelled(exc: BaseException) -> bool:
    """True when `exc` comes from a request ended because the process is stopping."""
    return _cause(exc, _Cancelled) is not None


class _Clock:
    """The waits of one network operation: per-operation timeout, deadline, cancellation."""

    def __init__(self, timeout: float | None, cancel: threading.Event | None) -> None:
        now = time.monotonic()
        self.end = now + timeout if timeout is not None else None
        self.deadline = timeout.deadline if isinstance(timeout, Until) else None
        self.total = timeout.total if isinstance(timeout, Until) else 0.0
        self.cancel = cancel

    def next_wait(
        self,
        timed_out: type[Exception],
        missed: type[Exception],
        stopped: type[Exception],
        *,
        sliced: bool = True,
    ) -> float | None:
        """How long the next wait may last; raises once nothing is left to wait for."""
        if self.cancel is not None and self.cancel.is_set():
            raise stopped("cancelled: the monitor is stopping")
        now = time.monotonic()
        waits = [SLICE] if sliced and self.cancel is not None else []
        if self.deadline is not None:
            left = self.deadline - now
            if left <= 0:
                raise missed(f"timed out: no complete answer within {self.total:g} s")
            waits.append(left)
        if self.end is not None:
            left = self.end - now
            if left <= 0:
                raise timed_out("timed out")
            waits.append(left)
        return min(waits) if waits else None


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose reads end at the request's deadline or on cancellation."""

    def __init__(self, stream: httpcore.NetworkStream, cancel: threading.Event | None) -> None:
        self._stream = stream
        self._cancel = cancel

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        clock = _Clock(timeout, self._cancel)
        while True:
            wait = clock.next_wait(httpcore.ReadTimeout, ReadDeadline, ReadCancelled)
            try:
                return self._stream.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                continue  # one slice is over: the clock says whether to wait again

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # not sliced: httpcore resumes a write from the start of its buffer, and what we
        # send is small (a GET, a login form); the wait still ends at the deadline
        clock = _Clock(timeout, self._cancel)
        wait = clock.next_wait(httpcore.WriteTimeout, WriteDeadline, WriteCancelled, sliced=False)
        self._stream.write(buffer, wait)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        clock = _Clock(timeout, self._cancel)
        wait = clock.next_wait(
            httpcore.ConnectTimeout, ConnectDeadline, ConnectCancelled, sliced=False
        )
        return DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, wait), self._cancel
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, its connections and streams bounded by the deadline."""

    def __init__(
        self,
        cancel: threading.Event | None = None,
        backend: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.cancel = cancel
        self._backend = backend or httpcore.SyncBackend()

    def _connect_wait(self, timeout: float | None) -> float | None:
        return _Clock(timeout, self.cancel).next_wait(
            httpcore.ConnectTimeout, ConnectDeadline, ConnectCancelled, sliced=False
        )

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, self._connect_wait(timeout), local_address, socket_options
        )
        return DeadlineStream(stream, self.cancel)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, self._connect_wait(timeout), socket_options
        )
        return DeadlineStream(stream, self.cancel)

    def sleep(self, seconds: float) -> None:
        if self.cancel is not None:
            self.cancel.wait(seconds)
        else:
            time.sleep(seconds)
