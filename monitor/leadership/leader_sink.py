"""A sink that sends to Slack only while this worker proves its jobs are still its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from alerts.base import AlertMessage, SendResult, Sink


class ProofLost(Exception):
    """A send refused: this worker cannot prove right now that no other worker has taken its
    delivery over (monitor/leadership/presence.py).

    Raised, not reported as a failed SendResult: the dispatcher would record a failure on the
    alert, a write that could land after the other worker sent it and mark it pending again."""


class LeaderOnlySink:
    """Checks the proof right before each post or update; reads pass through."""

    def __init__(self, sink: Sink, holds: Callable[[], bool]) -> None:
        self.sink = sink
        self.holds = holds
        self.name = sink.name

    def _check(self) -> None:
        if not self.holds():
            raise ProofLost("no fresh proof that this worker may act: not sending")

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
