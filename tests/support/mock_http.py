"""In-process HTTP for connector tests: an httpx client whose requests a handler answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from connectors import Connector, FeedCursor, PollResult

Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(handler: Handler) -> httpx.Client:
    """A client whose every request is answered by handler, without a socket."""
    return httpx.Client(transport=httpx.MockTransport(handler))


def answering(status: int, body: bytes = b"{}", **headers: str) -> httpx.Client:
    """A client whose every request gets this status, body and headers."""
    return mock_client(lambda request: httpx.Response(status, content=body, headers=headers))


def failing(error: type[httpx.TransportError], message: str) -> httpx.Client:
    """A client whose every request fails on the way (a reset, a refused connection)."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise error(message, request=request)

    return mock_client(fail)


class Recording:
    """A handler that keeps every request it is asked, then lets `answer` reply to it."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


def poll_with(
    connector: Connector[Any], handler: Handler, now: datetime, state: FeedCursor | None = None
) -> PollResult:
    """One poll of connector from state (a first run without it), answered by handler."""
    with mock_client(handler) as client:
        return connector.poll(client, state or FeedCursor(), now)
