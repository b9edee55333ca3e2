"""A connector whose polls return what the test queued: the core tested without a platform."""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime

import httpx

from connectors.base import Connector, ConnectorOptions, FeedCursor, PollResult

QUEUE: dict[str, deque[PollResult | Exception]] = defaultdict(deque)
CALLS: list[tuple[str, FeedCursor]] = []


class FakeOptions(ConnectorOptions):
    platform: str = "fake"


class FakeConnector(Connector[FakeOptions]):
    """Test double; polls pop the next queued result (or raise the queued exception)."""

    name = "fake"
    platform = "fake"
    default_interval = 60
    Options = FakeOptions

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        CALLS.append((self.feed_name, state))
        queue = QUEUE[self.feed_name]
        if not queue:
            return PollResult(state=state)
        item = queue.popleft()
        if isinstance(item, Exception):  # a connector error, or a bug
            raise item
        return item
