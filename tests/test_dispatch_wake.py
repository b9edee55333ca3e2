"""Waking the dispatcher: a wake during a delivery round runs it again right after, never lost."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.base import AlertMessage, SendResult
from monitor.alerting.outbox import Dispatcher, DispatchReport
from monitor.config import parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.scheduler import Service
from monitor.store.db import session
from monitor.store.models import Alert


class BlockingDispatcher:
    """Counts rounds; the first round blocks until released, like a slow Slack."""

    def __init__(self) -> None:
        self.rounds = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.stopping = threading.Event()

    def run_once(self) -> DispatchReport:
        self.rounds += 1
        if self.rounds == 1:
            self.entered.set()
            self.release.wait(5)
        return DispatchReport()

    def reroute_unsent(self) -> int:
        return 0


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def service(sqlite_engine: Engine) -> Iterator[tuple[Service, BlockingDispatcher]]:
    # an hour between ticks: every round in these tests comes from a wake
    config = parse_config({"alerts": {"dispatch_interval": "1h"}, "feeds": []})
    with httpx.Client() as client:
        dispatcher = BlockingDispatcher()
        svc = Service(config, Pipeline(config, sqlite_engine, client), dispatcher)  # type: ignore[arg-type]
        yield svc, dispatcher
        svc.stop()


def test_wakes_during_a_round_run_the_dispatcher_once_more_right_after(
    service: tuple[Service, BlockingDispatcher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc, dispatcher = service
    caplog.set_level(logging.WARNING)
    svc.start()
    assert dispatcher.entered.wait(5), "the first round starts with the service"
    for _ in range(50):  # a burst of polls with alerts while Slack is slow
        svc.wake_dispatcher()
    dispatcher.release.set()
    assert wait_until(lambda: dispatcher.rounds >= 2), "the wake during the round was lost"
    time.sleep(0.3)
    assert dispatcher.rounds == 2  # fifty wakes during one round: one more round, not fifty
    assert not [r for r in caplog.records if "maximum number of running instances" in r.message]


def test_a_wake_while_idle_delivers_at_once_not_at_the_next_tick(
    service: tuple[Service, BlockingDispatcher],
) -> None:
    svc, dispatcher = service
    dispatcher.release.set()
    svc.start()
    assert wait_until(lambda: dispatcher.rounds == 1)
    time.sleep(0.1)
    started = time.monotonic()
    svc.wake_dispatcher()
    assert wait_until(lambda: dispatcher.rounds == 2, timeout=1.0)
    assert time.monotonic() - started < 0.5


def test_stop_ends_the_dispatcher_loop_without_waiting_for_the_tick(
    service: tuple[Service, BlockingDispatcher],
) -> None:
    svc, dispatcher = service
    dispatcher.release.set()
    svc.start()
    assert wait_until(lambda: dispatcher.rounds == 1)
    started = time.monotonic()
    svc.stop()
    assert time.monotonic() - started < 2.0
    assert not svc.scheduler.running


class StopAfterFirstSink:
    """Accepts every message; the first one arrives together with the service's stop."""

    name = "slack"

    def __init__(self, dispatcher: Dispatcher | None = None) -> None:
        self.dispatcher = dispatcher
        self.posted: list[str] = []

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        self.posted.append(channel)
        if self.dispatcher is not None:
            self.dispatcher.stopping.set()
        return SendResult(ok=True, ts=f"1700000000.{len(self.posted):06d}")

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        return SendResult(ok=True, ts=ts)

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        return None


def test_a_stopping_dispatcher_ends_its_round_after_the_alert_in_flight(
    sqlite_engine: Engine,
) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with session(sqlite_engine) as s:
        for n in range(3):
            s.add(
                Alert(
                    key=f"feed_health:{n}",
                    kind="feed_health",
                    channel="#c",
                    body="down",
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        s.commit()
    sink = StopAfterFirstSink()
    dispatcher = Dispatcher(sqlite_engine, sink, pace=0, clock=lambda: now)
    sink.dispatcher = dispatcher
    report = dispatcher.run_once(now)
    assert (report.sent, sink.posted) == (1, ["#c"])
    with session(sqlite_engine) as s:
        rows = list(s.exec(select(Alert).order_by(col(Alert.id))))
    states = [a.state for a in rows]
    assert states == ["sent", "pending", "pending"]  # kept for the next start
    # and not claimed: the next start sends them without looking them up in Slack first
    assert [a.attempts for a in rows] == [1, 0, 0]
