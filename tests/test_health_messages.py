"""Feed failure, recovery and spike messages in Slack: their own headline, badge and reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from alerts.slack import SlackSink
from connectors.http import make_client
from monitor.alerting.outbox import Dispatcher
from monitor.alerting.routing import Router
from monitor.alerting.sweeper import Sweeper
from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import session
from monitor.store.models import Mention
from tests.support.fake_slack import FakeSlack, Posted, fake_slack
from tests.support.http_server import LocalServer, Reply, local_server

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FEED = Path(__file__).parent / "fixtures" / "rss" / "heise_developer_atom_2016.atom"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def feed_server() -> Iterator[LocalServer]:
    with local_server() as server:
        server.route("/feed.xml", Reply(404, b"<html>Not here</html>"))
        yield server


def config_for(url: str) -> Config:
    return parse_config(
        {
            "alerts": {"feed_failures": 3, "health_channel": "#ops", "max_age": "5000d"},
            "feeds": [{"name": "heise", "type": "rss", "url": url, "interval": 60}],
        }
    )


def deliver(config: Config, engine: Engine, slack: FakeSlack, now: datetime) -> None:
    sink = SlackSink(slack.token, base_url=slack.api_url, timeout=5)
    Dispatcher(engine, sink, pace=0, router=Router(config)).run_once(now)


def header(message: Posted) -> str:
    return str(message.blocks[0]["text"]["text"])


def badge(message: Posted) -> str:
    context = next(b for b in message.blocks if b["type"] == "context")
    return str(context["elements"][0]["text"])


def test_a_404_reads_as_a_feed_problem_with_where_and_what_to_do(
    sqlite_engine: Engine, slack: FakeSlack, feed_server: LocalServer
) -> None:
    url = feed_server.url + "/feed.xml?token=s3cret-query"
    config = config_for(url)
    with make_client(timeout=5) as client:
        pipeline = Pipeline(config, sqlite_engine, client)
        for minute in range(3):
            pipeline.poll("heise", now=T0 + timedelta(minutes=minute))
        deliver(config, sqlite_engine, slack, T0 + timedelta(minutes=3))
        [failing] = slack.messages
        assert header(failing) == "Feed heise is failing: 3 polls in a row for 2m"
        assert badge(failing) == ":warning: *feed problem*"
        text = str(failing.blocks)
        reason = f"HTTP 404 Not Found at {feed_server.url}/feed.xml: check the feed's url"
        assert reason in text, text
        for wrong in ("unscored", "MalformedResponse", "s3cret-query", "large_green_circle"):
            assert wrong not in str(failing.raw), wrong
        # the operator fixes the url on the server side: the feed answers again
        feed_server.route("/feed.xml", Reply(200, FEED.read_bytes()))
        pipeline.poll("heise", now=T0 + timedelta(minutes=10))
    deliver(config, sqlite_engine, slack, T0 + timedelta(minutes=11))
    recovered = next(m for m in slack.messages if m.channel == "#ops" and m is not failing)
    assert header(recovered) == "Feed heise recovered: it polls again"
    assert badge(recovered) == ":white_check_mark: *feed recovered*"
    assert "unscored" not in str(recovered.raw)


def test_a_spike_message_names_volume_and_negatives_once_without_a_mood_badge(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    config = parse_config(
        {
            "alerts": {"spike_min_count": 5, "spike_baseline_days": 2, "on": []},
            "feeds": [{"name": "f1", "type": "jsonl", "path": "x.jsonl"}],
        }
    )
    now = T0 + timedelta(days=3)
    with session(sqlite_engine) as s:
        for n in range(12):
            created = now - timedelta(days=2, hours=1) if n == 0 else now - timedelta(minutes=n)
            s.add(
                Mention(
                    platform="import",
                    feed="f1",
                    external_id=f"m{n}",
                    text="checkout outage *again*",
                    created_at=created,
                    fetched_at=created,
                    sentiment="negative",
                    status="answered",
                )
            )
        s.commit()
    Sweeper(config, sqlite_engine).run_once(now)
    deliver(config, sqlite_engine, slack, now)
    [spike] = slack.messages
    assert header(spike) == "Spike on f1: 11 mentions and 11 negative mentions in the last hour"
    assert badge(spike) == ":chart_with_upwards_trend: *spike*"
    assert "unscored" not in str(spike.raw)
