"""SLA clocks and the life of a Slack message: at risk, breached, answered, corrected."""

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
from monitor.alerting.sweeper import Sweeper
from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import session
from monitor.store.models import Alert, Mention
from tests.support import fake_connector
from tests.support.fake_slack import FakeSlack, fake_slack

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


# the fake connector registered, its queue empty (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fake_registered")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def make_config(**sla: object) -> Config:
    return parse_config(
        {
            "brand": {"identities": [{"platform": "fake", "handle": "AcmeSupport"}]},
            "alerts": {"on": ["negative"]},
            "sla": {"target": "1h", "clock": "calendar", **sla},
            "feeds": [{"name": "f1", "type": "fake", "channel": "#support"}],
        }
    )


class World:
    """One mention's life on a fake clock, with a real SQLite file and a fake Slack socket."""

    def __init__(self, engine: Engine, slack: FakeSlack, config: Config) -> None:
        self.engine, self.slack, self.config = engine, slack, config
        self.now = T0
        self.pipeline = Pipeline(config, engine, httpx.Client(), clock=lambda: self.now)
        self.sweeper = Sweeper(config, engine, clock=lambda: self.now)
        sink = SlackSink(slack.token, base_url=slack.api_url, timeout=5)
        self.dispatcher = Dispatcher(engine, sink, pace=0, clock=lambda: self.now)

    def at(self, minutes: float) -> World:
        self.now = T0 + timedelta(minutes=minutes)
        return self

    def poll(self, result: PollResult) -> None:
        fake_connector.QUEUE["f1"].append(result)
        assert self.pipeline.poll("f1", now=self.now).ok

    def tick(self) -> None:
        self.sweeper.run_once(self.now)
        self.dispatcher.run_once(self.now)

    def mention(self) -> Mention:
        with session(self.engine) as s:
            return s.exec(select(Mention)).one()

    def alert_kinds(self) -> list[str]:
        with session(self.engine) as s:
            return [a.kind for a in s.exec(select(Alert).order_by(col(Alert.id)))]


def complaint(text: str = "This is terrible, nobody answers my emails.") -> MentionRecord:
    return MentionRecord(platform="fake", external_id="m1", created_at=T0, text=text)


def answer(eid: str, minutes: float) -> BrandReply:
    return BrandReply(
        platform="fake",
        external_id=eid,
        in_reply_to="m1",
        created_at=T0 + timedelta(minutes=minutes),
        author="AcmeSupport",
        url=f"https://fake.example/{eid}",
    )


def text_of(payload: dict[str, Any]) -> str:
    return json.dumps(payload.get("blocks")) + str(payload.get("text"))


def test_a_mention_walks_on_track_at_risk_breached_then_answered_and_corrected(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack, make_config())
    world.at(1).poll(PollResult(mentions=[complaint()]))
    world.tick()
    [root] = slack.messages
    assert world.mention().sla_state == "on_track"
    assert world.mention().sla_due_at == T0 + timedelta(hours=1)

    world.at(44).tick()
    assert world.alert_kinds() == ["negative"], "44 of 60 minutes is still on track"
    world.at(45).tick()
    world.at(46).tick()
    assert world.alert_kinds() == ["negative", "sla_at_risk"]
    assert world.mention().sla_state == "at_risk"
    at_risk = slack.messages[1]
    assert at_risk.thread_ts == root.ts and "SLA at risk" in text_of(at_risk.raw)
    assert len(root.updates) == 1 and "due in 15m" in text_of(root.updates[0])

    world.at(60).tick()
    world.at(70).tick()
    assert world.alert_kinds() == ["negative", "sla_at_risk", "sla_breached"]
    breached = slack.messages[2]
    assert breached.thread_ts == root.ts and "SLA breached" in text_of(breached.raw)

    # the brand answers at minute 75; the next poll finds it
    world.at(80).poll(PollResult(brand_replies=[answer("r-late", 75)]))
    world.tick()
    mention = world.mention()
    assert (mention.status, mention.ttfr_seconds, mention.sla_met) == ("answered", 4500, False)
    answered = slack.messages[3]
    assert answered.thread_ts == root.ts and "Answered by AcmeSupport after 1h 15m" in text_of(
        answered.raw
    )
    assert "answered by AcmeSupport after 1h 15m" in text_of(root.updates[-1])

    # an earlier reply, at minute 20, turns up in a later poll: it replaces the recorded one
    world.at(90).poll(PollResult(brand_replies=[answer("r-early", 20)]))
    world.tick()
    mention = world.mention()
    assert (mention.ttfr_seconds, mention.sla_met) == (1200, True)
    assert mention.first_response_url == "https://fake.example/r-early"
    assert "answered by AcmeSupport after 20m" in text_of(root.updates[-1])
    assert len([m for m in slack.messages if m.thread_ts is None]) == 1, "one message per mention"

    # nothing more happens, however long we wait
    world.at(600).tick()
    assert len(slack.messages) == 5


def test_unscored_and_positive_mentions_get_sla_alerts_too(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack, make_config())
    world.at(1).poll(PollResult(mentions=[complaint("Geweldig product, echt waar")]))
    world.tick()
    assert slack.messages == [] and world.mention().sentiment != "negative"
    world.at(50).tick()
    [first] = slack.messages
    assert first.thread_ts is None and "SLA at risk" in text_of(first.raw)
    assert "Geweldig product" in text_of(first.raw), "the first message carries the mention"
    world.at(61).tick()
    assert slack.messages[1].thread_ts == first.ts


def test_business_clock_waits_over_the_weekend(sqlite_engine: Engine, slack: FakeSlack) -> None:
    config = make_config(clock="business", target="2h")
    world = World(sqlite_engine, slack, config)
    friday_evening = T0 - timedelta(days=2, hours=-7)  # Saturday 16:00 UTC
    record = complaint()
    record.created_at = friday_evening
    world.now = friday_evening
    world.poll(PollResult(mentions=[record]))
    mention = world.mention()
    # 09:00-17:00 UTC Monday to Friday (the default): 2 business hours end Monday 11:00
    assert mention.sla_due_at == T0 + timedelta(hours=2)
    assert mention.sla_at_risk_at == T0 + timedelta(hours=1, minutes=30)


def test_backfilled_history_gets_no_sla_alerts(sqlite_engine: Engine, slack: FakeSlack) -> None:
    world = World(sqlite_engine, slack, make_config())
    old = complaint()
    old.created_at = T0 - timedelta(days=3)
    world.poll(PollResult(mentions=[old]))
    world.at(5).tick()
    assert world.mention().sla_state == "backfill"
    assert slack.messages == []


def test_a_per_platform_and_per_feed_target_override_the_default() -> None:
    from monitor.alerting.sla import Clocks

    config = parse_config(
        {
            "sla": {"target": "4h", "platforms": {"fake": {"target": "24h", "clock": "calendar"}}},
            "feeds": [
                {"name": "a", "type": "fake"},
                {"name": "b", "type": "fake", "sla": {"target": "30m"}},
            ],
        }
    )
    clocks = Clocks(config)
    assert clocks.policy("a", "fake").target == 24 * 3600
    assert clocks.policy("b", "fake").target == 30 * 60
    assert clocks.policy("b", "fake").clock == "calendar"
    assert clocks.policy("a", "other").target == 4 * 3600


def test_a_review_edited_after_our_reply_gets_a_note_in_its_thread(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack, make_config())
    review = complaint("Terrible app, it crashes all the time <!channel>")
    review.rating = 1
    world.at(1).poll(PollResult(mentions=[review]))
    world.tick()
    world.at(5).poll(PollResult(brand_replies=[answer("r1", 4)]))
    world.tick()
    edited = complaint("Update: support fixed it within minutes, thanks!")
    edited.rating, edited.edited_after_reply = 4, True
    world.at(30).poll(PollResult(mentions=[edited]))
    world.tick()
    world.at(31).poll(PollResult(mentions=[edited]))  # seen again: noted once
    world.tick()
    root = slack.messages[0]
    notes = [m for m in slack.messages if "edited the review" in text_of(m.raw)]
    assert len(notes) == 1 and notes[0].thread_ts == root.ts
    assert "4 stars: Update: support fixed it" in text_of(notes[0].raw)
    assert world.mention().edited_after_reply is True
    assert "<!channel>" not in json.dumps([m.raw for m in slack.messages])
