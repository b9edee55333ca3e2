"""The service acts only while the lease is proved: no poll, no sweep, no Slack send without it."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.alerting.outbox import Dispatcher
from monitor.config import parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.leadership.leader_sink import LeaderOnlySink
from monitor.scheduler import Service
from monitor.store.db import session
from monitor.store.models import Alert
from tests.support import fake_connector
from tests.test_lease import CountingSink
from tests.test_unchanged_poll import T0, page

pytestmark = pytest.mark.usefixtures("fake_registered")


def test_polls_and_sends_wait_for_a_proof_and_write_nothing_meanwhile(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        {
            "alerts": {"on": ["all"], "max_age": "5000d"},
            "feeds": [{"name": "f1", "type": "fake", "interval": 60}],
        }
    )
    leading = [False]
    slack = CountingSink()
    service = Service(
        config,
        Pipeline(config, sqlite_engine, httpx.Client()),
        Dispatcher(sqlite_engine, LeaderOnlySink(slack, lambda: leading[0]), pace=0),
        clock=lambda: T0 + timedelta(minutes=1),
        leading=lambda: leading[0],
    )
    fake_connector.QUEUE["f1"].append(page("m1"))
    calls = len(fake_connector.CALLS)
    assert service.poll_feed("f1") is None
    assert len(fake_connector.CALLS) == calls, "no request without a proof"
    leading[0] = True
    report = service.poll_feed("f1")
    assert report is not None and len(report.alerts) == 1
    leading[0] = False
    with caplog.at_level(logging.DEBUG):
        service.dispatch()
    assert slack.sent == 0, "nothing reaches Slack without a proof"
    assert "internal error" not in caplog.text
    with session(sqlite_engine) as s:
        [alert] = s.exec(select(Alert)).all()
    # the refused send left no failure on the row: a late write could undo the next holder's
    assert alert.state == "pending" and alert.last_error is None and alert.slack_ts is None
    leading[0] = True
    service.dispatch()
    assert slack.sent == 1
