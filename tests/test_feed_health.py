"""A broken or silent feed is itself an alert, once, and so is its recovery; the heartbeat."""

from __future__ import annotations

import io
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.console import ConsoleSink
from connectors.base import FeedCursor, MentionRecord, PollResult
from connectors.errors import AuthError, TransientError
from monitor.alerting.outbox import Dispatcher
from monitor.alerting.routing import Router
from monitor.alerting.sweeper import Sweeper
from monitor.config import Config, HeartbeatConfig, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.leadership.heartbeat import Heartbeat
from monitor.store.db import session
from monitor.store.models import Alert
from tests.support import fake_connector

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


# the fake connector registered, its queue empty (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fake_registered")


def make_config() -> Config:
    return parse_config(
        {
            "alerts": {"feed_failures": 3, "health_channel": "#ops"},
            "feeds": [
                {"name": "f1", "type": "fake", "interval": 60, "expect_activity_within": "2h"},
                {"name": "f2", "type": "fake", "interval": 60},
            ],
        }
    )


def health_alerts(engine: Engine) -> list[Alert]:
    with session(engine) as s:
        return list(
            s.exec(
                select(Alert)
                .where(col(Alert.kind).in_(("feed_health", "feed_recovered")))
                .order_by(col(Alert.id))
            )
        )


def ok(*ids: str) -> PollResult:
    return PollResult(
        mentions=[MentionRecord("fake", i, T0, "A question about billing") for i in ids],
        state=FeedCursor(cursor="c"),
    )


def test_n_failures_in_a_row_raise_one_alert_and_recovery_one_more(engine: Engine) -> None:
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    for minute in range(5):
        fake_connector.QUEUE["f1"].append(AuthError("401 from the platform: check FAKE_TOKEN"))
        pipeline.poll("f1", now=T0 + timedelta(minutes=minute))
    fake_connector.QUEUE["f2"].append(ok("x"))
    assert pipeline.poll("f2", now=T0).ok, "the other feed keeps working"
    [alert] = health_alerts(engine)
    assert alert.channel == "#ops" and alert.kind == "feed_health"
    assert "Feed f1 is failing: 3 polls in a row for 2m" in (alert.body or "")
    assert "check FAKE_TOKEN" in (alert.body or "")
    fake_connector.QUEUE["f1"].append(ok("a"))
    pipeline.poll("f1", now=T0 + timedelta(minutes=10))
    fake_connector.QUEUE["f1"].append(ok("b"))
    pipeline.poll("f1", now=T0 + timedelta(minutes=11))
    kinds = [a.kind for a in health_alerts(engine)]
    assert kinds == ["feed_health", "feed_recovered"]
    # a second incident is a new alert
    for minute in range(3):
        fake_connector.QUEUE["f1"].append(TransientError("503"))
        pipeline.poll("f1", now=T0 + timedelta(minutes=20 + minute))
    assert [a.kind for a in health_alerts(engine)] == [
        "feed_health",
        "feed_recovered",
        "feed_health",
    ]


def test_fewer_failures_than_the_threshold_stay_quiet(engine: Engine) -> None:
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    for minute in range(2):
        fake_connector.QUEUE["f1"].append(TransientError("timeout"))
        pipeline.poll("f1", now=T0 + timedelta(minutes=minute))
    fake_connector.QUEUE["f1"].append(ok("a"))
    pipeline.poll("f1", now=T0 + timedelta(minutes=5))
    assert health_alerts(engine) == []


def test_a_silent_feed_raises_one_alert_then_recovers_when_items_return(engine: Engine) -> None:
    config = make_config()
    pipeline = Pipeline(config, engine, httpx.Client())
    sweeper = Sweeper(config, engine)
    fake_connector.QUEUE["f1"].append(ok("a"))
    pipeline.poll("f1", now=T0)
    for hour in range(1, 4):  # the feed answers, but with nothing new
        fake_connector.QUEUE["f1"].append(ok("a"))
        pipeline.poll("f1", now=T0 + timedelta(hours=hour))
        sweeper.run_once(T0 + timedelta(hours=hour, minutes=1))
    [alert] = health_alerts(engine)
    assert "brought nothing new for 2h 01m" in (alert.body or "")
    fake_connector.QUEUE["f1"].append(ok("b"))
    pipeline.poll("f1", now=T0 + timedelta(hours=5))
    assert [a.kind for a in health_alerts(engine)] == ["feed_health", "feed_recovered"]


def test_health_alerts_are_delivered_with_their_text(engine: Engine) -> None:
    config = make_config()
    pipeline = Pipeline(config, engine, httpx.Client())
    for minute in range(3):
        fake_connector.QUEUE["f2"].append(AuthError("bad token"))
        pipeline.poll("f2", now=T0 + timedelta(minutes=minute))
    stream = io.StringIO()
    sink = ConsoleSink(stream=stream)
    Dispatcher(engine, sink, pace=0, router=Router(config)).run_once(T0 + timedelta(hours=1))
    out = stream.getvalue()
    assert "ALERT #ops" in out and "Feed f2 is failing" in out and "bad token" in out


def test_heartbeat_touches_its_file_and_serves_healthz(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    beat = Heartbeat(
        HeartbeatConfig(file=str(tmp_path / "alive"), port=port),
        lambda: {"feeds_failing": ["f1"]},
    )
    beat.start()
    try:
        assert (tmp_path / "alive").exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            body = json.loads(response.read())
        assert response.status == 200 and body == {"ok": True, "feeds_failing": ["f1"]}
        beat.last_beat = -1e9  # a scheduler that stopped beating
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert caught.value.code == 503
        caught.value.close()
    finally:
        beat.stop()
