"""A feed document cut short: its whole entries are kept, the phantom is skipped and counted,
and `monitor status` shows the feed's warning until a whole document arrives."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from alerts.slack import SlackSink
from connectors.http import make_client
from monitor.alerting.outbox import Dispatcher
from monitor.alerting.routing import Router
from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.reports.status import feed_statuses, status_report
from monitor.store.db import session
from monitor.store.models import Mention
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import LocalServer, Reply, local_server

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RSS = Path(__file__).parent / "fixtures" / "rss"
TRUNCATED = (RSS / "reddit_front_page_rss_2015_truncated.xml").read_bytes()
WHOLE = (RSS / "reddit_front_page_rss_2015.rss").read_bytes()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def feed_server() -> Iterator[LocalServer]:
    with local_server() as server:
        server.route("/.rss", Reply(200, TRUNCATED, {"Content-Type": "application/rss+xml"}))
        yield server


def make_config(url: str) -> Config:
    return parse_config(
        {
            "alerts": {"on": ["all"], "max_age": "5000d"},
            "sla": {"target": "1h"},
            "feeds": [{"name": "reddit-front", "type": "rss", "url": url, "interval": 60}],
        }
    )


def test_a_truncated_document_alerts_its_whole_entries_and_the_feed_says_malformed(
    sqlite_engine: Engine, slack: FakeSlack, feed_server: LocalServer
) -> None:
    config = make_config(feed_server.url + "/.rss")
    with make_client(timeout=5) as client:
        pipeline = Pipeline(config, sqlite_engine, client)
        report = pipeline.poll("reddit-front", now=T0)
        assert report.ok and len(report.new_mentions) == 2
        sink = SlackSink(slack.token, base_url=slack.api_url, timeout=5)
        Dispatcher(sqlite_engine, sink, pace=0, router=Router(config)).run_once(T0)
        # no phantom: every stored mention has something to act on, and no empty alert
        with session(sqlite_engine) as s:
            mentions = s.exec(select(Mention)).all()
        assert len(mentions) == 2 and all(m.title and m.url for m in mentions)
        assert len(slack.messages) == 2
        assert all(m.text.strip() for m in slack.messages)
        [row] = feed_statuses(config, sqlite_engine, T0)
        assert row.kind == "warning" and row.needs_attention
        assert row.last_error is not None and row.last_error.startswith(
            "malformed document: 1 of 3 entries had no title, text or link and were skipped"
        )
        text, code = status_report(config, sqlite_engine, T0, problems_only=True)
        assert "reddit-front" in text and "malformed document" in text and code == 1
        # the next poll gets the whole document: the warning is history
        feed_server.route("/.rss", Reply(200, WHOLE, {"Content-Type": "application/rss+xml"}))
        later = T0 + timedelta(minutes=5)
        assert pipeline.poll("reddit-front", now=later).ok
    [row] = feed_statuses(config, sqlite_engine, later)
    assert row.kind == "ok" and row.last_error is None
