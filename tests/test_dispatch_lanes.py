"""Channels are sent to at once, each in its own order and at its own pace."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col, select

from alerts.base import AlertMessage, SendResult
from monitor.alerting.outbox import Dispatcher
from monitor.leadership.leader_sink import LeaderOnlySink, ProofLost
from monitor.store.db import session
from monitor.store.models import Alert

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def add_alerts(engine: Engine, channels: list[str], per_channel: int) -> None:
    """Alerts interleaved in id order as a burst on one feed makes them: all of the first
    channel, then all of the next."""
    with session(engine) as s:
        for channel in channels:
            for n in range(per_channel):
                s.add(
                    Alert(
                        key=f"feed_health:{channel}:{n}",
                        kind="feed_health",
                        channel=channel,
                        body=f"{channel} {n}",
                        next_attempt_at=NOW,
                        created_at=NOW,
                    )
                )
        s.commit()


class RecordingSink:
    """Accepts every post; `on_post` may block or raise to play a slow or lost Slack."""

    name = "slack"

    def __init__(self, on_post: Callable[[str], object] | None = None) -> None:
        self.on_post = on_post
        self.posted: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        if self.on_post is not None:
            self.on_post(channel)
        with self._lock:
            self.posted.append((channel, message.key))
            return SendResult(ok=True, ts=f"1700000000.{len(self.posted):06d}")

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        return SendResult(ok=True, ts=ts)

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        return None


def states(engine: Engine) -> dict[str, str]:
    with session(engine) as s:
        return {a.key: a.state for a in s.exec(select(Alert).order_by(col(Alert.id)))}


def test_two_channels_are_sent_to_at_the_same_time(sqlite_engine: Engine) -> None:
    # Each post waits until a post to another channel is in flight too: sent one after the
    # other (one thread for every channel), the barrier breaks and nothing is sent.
    both = threading.Barrier(2, timeout=10)
    sink = RecordingSink(on_post=lambda _channel: both.wait())
    add_alerts(sqlite_engine, ["#a", "#b"], 1)
    report = Dispatcher(sqlite_engine, sink, pace=0, clock=lambda: NOW).run_once(NOW)
    assert report.sent == 2
    assert sorted(sink.posted) == [("#a", "feed_health:#a:0"), ("#b", "feed_health:#b:0")]


def test_each_channel_keeps_its_order(sqlite_engine: Engine) -> None:
    sink = RecordingSink()
    channels = ["#a", "#b", "#c", "#d", "#e", "#f"]  # more channels than lanes
    add_alerts(sqlite_engine, channels, 5)
    report = Dispatcher(sqlite_engine, sink, pace=0, clock=lambda: NOW).run_once(NOW)
    assert report.sent == 30
    for channel in channels:
        keys = [key for posted_to, key in sink.posted if posted_to == channel]
        assert keys == [f"feed_health:{channel}:{n}" for n in range(5)]


def test_a_slow_channel_does_not_hold_back_another(sqlite_engine: Engine) -> None:
    # #slow's first post blocks until #fast has sent all three: one thread would deadlock here
    fast_done = threading.Event()

    def on_post(channel: str) -> None:
        if channel == "#slow":
            assert fast_done.wait(10), "#fast waited behind #slow"

    sink = RecordingSink(on_post=on_post)

    original_post = sink.post

    def post(channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        result = original_post(channel, message, thread_ts)
        if sum(1 for c, _ in sink.posted if c == "#fast") == 3:
            fast_done.set()
        return result

    sink.post = post  # type: ignore[method-assign]
    add_alerts(sqlite_engine, ["#slow", "#fast"], 3)
    report = Dispatcher(sqlite_engine, sink, pace=0, clock=lambda: NOW).run_once(NOW)
    assert report.sent == 6
    assert set(states(sqlite_engine).values()) == {"sent"}


def test_a_stop_ends_every_lane_after_its_alert_in_flight(sqlite_engine: Engine) -> None:
    dispatcher: Dispatcher | None = None

    def on_post(_channel: str) -> None:
        assert dispatcher is not None
        dispatcher.stopping.set()  # the service stops while the posts are in flight

    sink = RecordingSink(on_post=on_post)
    dispatcher = Dispatcher(sqlite_engine, sink, pace=0, clock=lambda: NOW)
    add_alerts(sqlite_engine, ["#a", "#b"], 3)
    dispatcher.run_once(NOW)
    for channel in ("#a", "#b"):
        assert sum(1 for c, _ in sink.posted if c == channel) <= 1
    found = states(sqlite_engine)
    assert sum(state == "sent" for state in found.values()) == len(sink.posted) >= 1
    assert set(found.values()) <= {"sent", "pending"}  # the rest kept for the next start


def test_a_lost_proof_in_one_lane_reaches_the_caller_and_nothing_more_is_sent(
    sqlite_engine: Engine,
) -> None:
    lost = threading.Event()
    in_flight = threading.Barrier(2, timeout=10)

    def on_post(channel: str) -> None:
        in_flight.wait()  # both first posts passed the proof check
        if channel == "#a":
            lost.set()  # the lock connection dies while #a posts
            raise ProofLost("no fresh proof that this worker may act: not sending")
        assert lost.wait(10)

    inner = RecordingSink(on_post=on_post)
    sink = LeaderOnlySink(inner, holds=lambda: not lost.is_set())
    add_alerts(sqlite_engine, ["#a", "#b"], 3)
    with pytest.raises(ProofLost):
        Dispatcher(sqlite_engine, sink, pace=0, clock=lambda: NOW).run_once(NOW)
    # #b finishes the post in flight; neither lane sends anything after the loss
    assert [c for c, _ in inner.posted] == ["#b"]
    assert list(states(sqlite_engine).values()).count("sent") <= 1


def test_a_lane_takes_one_transaction_an_alert_and_counts_each_attempt_before_its_send(
    engine: Engine,
) -> None:
    # What each post sees stored: its own attempt counted and committed (a crash during the
    # post makes the next start look it up in Slack, never post it blindly), the earlier
    # ones recorded as sent, the later ones not touched yet.
    seen: list[list[tuple[str, int]]] = []

    def on_post(_channel: str) -> None:
        with session(engine) as s:
            rows = s.exec(select(Alert).order_by(col(Alert.id)))
            seen.append([(a.state, a.attempts) for a in rows])

    transactions = 0

    def count(_conn: Connection) -> None:
        nonlocal transactions
        transactions += 1

    add_alerts(engine, ["#a"], 3)
    event.listen(engine, "begin", count)
    try:
        report = Dispatcher(engine, RecordingSink(on_post), pace=0, clock=lambda: NOW).run_once(NOW)
    finally:
        event.remove(engine, "begin", count)
    assert report.sent == 3
    assert seen == [
        [("pending", 1), ("pending", 0), ("pending", 0)],
        [("sent", 1), ("pending", 1), ("pending", 0)],
        [("sent", 1), ("sent", 1), ("pending", 1)],
    ]
    # the round's query, the first claim, then one commit an alert: its outcome together
    # with the next alert's claim (on_post's three reads are the rest)
    assert transactions - len(seen) == 1 + 1 + 3
