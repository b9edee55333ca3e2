"""A sink that sends to Slack only while this instance proves it holds the scheduler lease."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from alerts.base import AlertMessage, SendResult, Sink


class LeaseLost(Exception):
    """A send refused: this instance cannot prove it holds the scheduler lease right now.

    Raised, not reported as a failed SendResult: the dispatcher would record a failure on the
    alert, a write that could land after the new holder sent it and mark it pending again."""


class LeaderOnlySink:
    """Checks the lease right before each post or update; reads pass through."""

    def __init__(self, sink: Sink, holds: Callable[[], bool]) -> None:
        self.sink = sink
        self.holds = holds
        self.name = sink.name

    def _check(self) -> None:
        if not self.holds():
            raise LeaseLost("no fresh proof of the scheduler lease: not sending")

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        self._check()
        return self.sink.post(channel, message, thread_ts=thread_ts)

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        self._check()
        return self.sink.update(channel, ts, message)

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        return self.sink.find_posted(channel, key, oldest, thread_ts=thread_ts)
