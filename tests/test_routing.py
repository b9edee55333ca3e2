"""Routing, quiet hours, storm digests and group pings, on a fake clock with a fake Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.slack import SlackSink
from connectors.base import BrandReply, MentionRecord, PollResult
from monitor.alerting.outbox import Dispatcher
from monitor.alerting.routing import Router, quiet_until
from monitor.alerting.sweeper import Sweeper
from monitor.config import Config, ConfigError, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import session
from monitor.store.models import Alert
from tests.support import fake_connector
from tests.support.fake_slack import FakeSlack, fake_slack

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday noon UTC


# the fake connector registered, its queue empty (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fake_registered")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


ROUTES: list[dict[str, Any]] = [
    {"name": "reviews-low", "channel": "#reviews", "platforms": ["fake"], "max_rating": 2},
    {
        "name": "dutch",
        "channel": "#nl",
        "languages": ["nl"],
        "quiet_hours": {"timezone": "Europe/Amsterdam", "start": "22:00", "end": "07:00"},
    },
    {
        "name": "night-owl",
        "channel": "#oncall",
        "kinds": ["nothing-matches-this"],
    },
    {
        "name": "busy",
        "channel": "#busy",
        "feeds": ["busy"],
        "storm": {"threshold": 3, "window": "5m"},
        "mention_group": "S0SUPPORT",
    },
]


def make_config(routes: list[dict[str, Any]] | None = None) -> Config:
    return parse_config(
        {
            "alerts": {"on": ["all"]},
            "sla": {"target": "1h", "clock": "calendar"},
            "routes": ROUTES if routes is None else routes,
            "feeds": [
                {"name": "f1", "type": "fake", "channel": "#feed-one"},
                {"name": "busy", "type": "fake"},
            ],
        }
    )


class World:
    def __init__(self, engine: Engine, slack: FakeSlack, config: Config) -> None:
        self.engine, self.slack, self.config, self.now = engine, slack, config, T0
        self.pipeline = Pipeline(config, engine, httpx.Client(), clock=lambda: self.now)
        self.sweeper = Sweeper(config, engine, clock=lambda: self.now)
        self.dispatcher = Dispatcher(
            engine,
            SlackSink(slack.token, base_url=slack.api_url, timeout=5),
            pace=0,
            clock=lambda: self.now,
            router=Router(config),
        )

    def poll(
        self, feed: str, *records: MentionRecord, replies: tuple[BrandReply, ...] = ()
    ) -> None:
        fake_connector.QUEUE[feed].append(
            PollResult(mentions=list(records), brand_replies=list(replies))
        )
        assert self.pipeline.poll(feed, now=self.now).ok

    def tick(self, minutes: float = 0) -> None:
        self.now += timedelta(minutes=minutes)
        self.sweeper.run_once(self.now)
        self.dispatcher.run_once(self.now)

    def channels(self) -> list[str]:
        return [m.channel for m in self.slack.messages]


def mention(eid: str, minutes_ago: float = 1, **kw: object) -> MentionRecord:
    return MentionRecord(
        platform="fake",
        external_id=eid,
        created_at=T0 - timedelta(minutes=minutes_ago),
        text=str(kw.pop("text", "This service is terrible and slow.")),
        **kw,  # type: ignore[arg-type]
    )


def test_first_matching_route_wins_else_the_feed_channel(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack, make_config())
    world.poll("f1", mention("low", rating=1), mention("high", rating=5), mention("plain"))
    world.tick()
    assert sorted(world.channels()) == ["#feed-one", "#feed-one", "#reviews"]
    with session(sqlite_engine) as s:
        routes = {a.key.split(":")[0] + a.channel: a.route for a in s.exec(select(Alert))}
    assert "reviews-low" in routes.values() and "default" in routes.values()


def test_quiet_hours_hold_alerts_until_morning(sqlite_engine: Engine, slack: FakeSlack) -> None:
    world = World(sqlite_engine, slack, make_config())
    world.now = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 23:30 in Amsterdam
    late = mention("n1", language="nl", text="Dit is echt slecht")
    late.created_at = world.now - timedelta(minutes=1)
    world.poll("f1", late)
    world.tick()
    assert slack.messages == [], "held during quiet hours, not dropped"
    with session(sqlite_engine) as s:
        held = s.exec(select(Alert).where(col(Alert.kind).not_like("sla_%"))).one()
    assert held.state == "pending"
    assert held.next_attempt_at == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 07:00 local
    world.tick(minutes=7 * 60 + 31)  # 06:01 UTC, 07:01 in Amsterdam
    # the first message goes at 07:00; the breach that came overnight threads under it
    # (the clock jumped past "at risk" while the sweeper was not looking: one step, once)
    assert set(world.channels()) == {"#nl"}
    assert [m.thread_ts is None for m in slack.messages] == [True, False]


def test_quiet_hours_with_a_fallback_route_send_there_at_once(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    routes = [dict(ROUTES[1]), ROUTES[2]]
    routes[0]["quiet_hours"] = {**routes[0]["quiet_hours"], "fallback": "night-owl"}
    world = World(sqlite_engine, slack, make_config(routes))
    world.now = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    world.poll("f1", mention("n1", language="nl", text="Dit is echt slecht"))
    world.tick()
    assert world.channels() == ["#oncall"]


def test_quiet_window_arithmetic_across_midnight_and_days() -> None:
    config = make_config()
    quiet = config.routes[1].quiet_hours
    assert quiet is not None
    assert quiet_until(quiet, datetime(2026, 11, 23, 20, 59, tzinfo=UTC)) is None  # 21:59 local
    assert quiet_until(quiet, datetime(2026, 11, 24, 5, 0, tzinfo=UTC)) is not None  # 06:00
    assert quiet_until(quiet, datetime(2026, 11, 24, 6, 0, tzinfo=UTC)) is None  # 07:00


def test_a_storm_becomes_one_digest_and_each_alert_is_still_recorded_and_updated(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack, make_config())
    world.poll("busy", *(mention(f"s{i}", text=f"Outage again, terrible #{i}") for i in range(6)))
    world.tick()
    [digest] = slack.messages
    assert digest.channel == "#busy"
    body = json.dumps(digest.blocks)
    assert "6 new alerts" in digest.text and body.count("Outage again") == 6
    with session(sqlite_engine) as s:
        alerts = list(s.exec(select(Alert).order_by(col(Alert.id))))
    folded = [a for a in alerts if a.kind != "digest"]
    assert len(folded) == 6 and all(a.state == "sent" and a.slack_ts == digest.ts for a in folded)
    # an answer to one of them is threaded under the digest, which is never rewritten
    reply = BrandReply("fake", "r1", "s2", T0 + timedelta(minutes=5), author="Acme")
    world.poll("busy", replies=(reply,))
    world.tick(minutes=6)
    answered = slack.messages[-1]
    assert answered.thread_ts == digest.ts and "Answered by Acme" in json.dumps(answered.raw)
    assert digest.updates == []


def test_below_the_threshold_alerts_go_one_by_one(sqlite_engine: Engine, slack: FakeSlack) -> None:
    world = World(sqlite_engine, slack, make_config())
    world.poll("busy", mention("a"), mention("b"), mention("c"))
    world.tick()
    assert len(slack.messages) == 3


def test_an_sla_breach_pings_the_routes_user_group_and_nobody_else(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack, make_config())
    world.poll("busy", mention("x", minutes_ago=0, text="<!channel> this is terrible"))
    world.tick()
    world.tick(minutes=61)
    breach = slack.messages[-1]
    text = json.dumps(breach.raw)
    assert breach.thread_ts == slack.messages[0].ts
    assert "<!subteam^S0SUPPORT>" in text and "<!channel>" not in json.dumps(
        [m.raw for m in slack.messages]
    )


def test_after_a_config_fix_unsent_alerts_follow_the_new_route(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    broken = make_config([{"name": "r", "channel": "#typo", "feeds": ["f1"]}])
    world = World(sqlite_engine, slack, broken)
    slack.script.append(
        __import__("tests.support.http_server", fromlist=["Reply"]).Reply.json(
            {"ok": False, "error": "channel_not_found"}
        )
    )
    world.poll("f1", mention("m"))
    world.tick()
    with session(sqlite_engine) as s:
        assert s.exec(select(Alert)).one().state == "failed"
    fixed = make_config([{"name": "r", "channel": "#support", "feeds": ["f1"]}])
    dispatcher = Dispatcher(
        sqlite_engine,
        SlackSink(slack.token, base_url=slack.api_url, timeout=5),
        pace=0,
        clock=lambda: world.now,
        router=Router(fixed),
    )
    assert dispatcher.reroute_unsent() == 1
    assert dispatcher.run_once(world.now).sent == 1
    assert world.channels() == ["#support"]


@pytest.mark.parametrize(
    ("routes", "problem"),
    [
        ([{"name": "a", "channel": "#a"}, {"name": "a", "channel": "#b"}], "routes[1].name"),
        ([{"name": "a", "channel": "#a", "feeds": ["nope"]}], "routes[0].feeds: no feed named"),
        (
            [
                {
                    "name": "a",
                    "channel": "#a",
                    "quiet_hours": {"start": "22:00", "end": "07:00", "fallback": "zz"},
                }
            ],
            "routes[0].quiet_hours.fallback: no route named 'zz'",
        ),
        ([{"name": "a", "channel": "#a", "mention_group": "@here"}], "routes[0].mention_group"),
    ],
)
def test_route_mistakes_are_config_errors(routes: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(routes)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
