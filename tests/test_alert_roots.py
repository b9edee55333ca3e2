"""The mention's root message, one definition for who queues and who delivers.

A mention that was not alerted when it arrived (positive, alerts on negatives only) gets its
first message from the SLA sweeper: an `sla_at_risk` alert posted top-level. Held overnight by
its route's quiet hours, it is still the root while it waits: what comes after it (the brand's
answer, the breach) threads under it or is carried by it, never posted as a second message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.slack import SlackSink
from connectors.base import BrandReply, MentionRecord, PollResult
from monitor.alerting.outbox import Dispatcher
from monitor.alerting.roots import root_alert
from monitor.alerting.routing import Router
from monitor.alerting.sweeper import Sweeper
from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.states import AlertKind, AlertState
from monitor.store.db import session
from monitor.store.models import Alert
from tests.support import fake_connector
from tests.support.fake_slack import FakeSlack, Posted, fake_slack

T0 = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # a Monday, half an hour before quiet hours
MORNING = datetime(2026, 11, 24, 7, 1, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("fake_registered")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def make_config() -> Config:
    return parse_config(
        {
            "brand": {"identities": [{"platform": "fake", "handle": "AcmeSupport"}]},
            "alerts": {"on": ["negative"]},
            "sla": {"target": "1h", "clock": "calendar"},
            "routes": [
                {
                    "name": "support",
                    "channel": "#support",
                    "quiet_hours": {"start": "22:00", "end": "07:00"},
                }
            ],
            "feeds": [{"name": "f1", "type": "fake"}],
        }
    )


class World:
    def __init__(self, engine: Engine, slack: FakeSlack) -> None:
        config = make_config()
        self.engine, self.slack, self.now = engine, slack, T0
        self.pipeline = Pipeline(config, engine, httpx.Client(), clock=lambda: self.now)
        self.sweeper = Sweeper(config, engine, clock=lambda: self.now)
        sink = SlackSink(slack.token, base_url=slack.api_url, timeout=5)
        self.dispatcher = Dispatcher(
            engine, sink, pace=0, clock=lambda: self.now, router=Router(config)
        )

    def poll(self, result: PollResult) -> None:
        fake_connector.QUEUE["f1"].append(result)
        assert self.pipeline.poll("f1", now=self.now).ok

    def tick(self, at: datetime) -> None:
        self.now = at
        self.sweeper.run_once(at)
        self.dispatcher.run_once(at)

    def alerts(self) -> list[Alert]:
        with session(self.engine) as s:
            return list(s.exec(select(Alert).order_by(col(Alert.id))))

    def top_level(self) -> list[Posted]:
        return [m for m in self.slack.messages if m.thread_ts is None]


def praise() -> MentionRecord:
    return MentionRecord(
        platform="fake", external_id="m1", created_at=T0, text="Geweldig product, echt waar"
    )


def text_of(message: Posted) -> str:
    return json.dumps(message.raw.get("blocks")) + str(message.raw.get("text"))


def test_an_answer_while_the_sla_first_message_is_held_is_carried_by_it(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack)
    world.poll(PollResult(mentions=[praise()]))
    world.tick(T0 + timedelta(minutes=50))  # 22:20: at risk, inside quiet hours
    assert [a.kind for a in world.alerts()] == [AlertKind.SLA_AT_RISK]
    assert slack.messages == [], "held until 07:00"

    # the brand answers at 22:40; the answer is queued under the held first message
    world.now = T0 + timedelta(minutes=75)
    reply = BrandReply("fake", "r1", "m1", T0 + timedelta(minutes=70), author="AcmeSupport")
    world.poll(PollResult(brand_replies=[reply]))
    world.tick(world.now)
    _, answered = world.alerts()
    assert answered.kind == AlertKind.ANSWERED_UPDATE
    assert slack.messages == [], "nothing posted at night: the first message will carry it"
    assert answered.state == AlertState.SENT and answered.slack_ts is None

    world.tick(MORNING)
    [first] = world.top_level()
    assert first.channel == "#support" and "answered by AcmeSupport after 1h 10m" in text_of(first)
    assert len(slack.messages) == 1, "one message for the mention, showing its answer"
    assert world.alerts()[0].slack_ts == first.ts


def test_a_breach_while_the_sla_first_message_is_held_threads_under_it_in_the_morning(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack)
    world.poll(PollResult(mentions=[praise()]))
    world.tick(T0 + timedelta(minutes=50))  # at risk, held
    world.tick(T0 + timedelta(minutes=65))  # breached, queued under the held first message
    assert [a.kind for a in world.alerts()] == [AlertKind.SLA_AT_RISK, AlertKind.SLA_BREACHED]
    assert slack.messages == []

    world.tick(MORNING)
    first, breach = slack.messages
    assert first.thread_ts is None and "SLA at risk" in text_of(first)
    assert breach.thread_ts == first.ts and "SLA breached" in text_of(breach)


def test_the_root_is_the_first_alert_queued_before_the_one_asking(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    world = World(sqlite_engine, slack)
    world.poll(PollResult(mentions=[praise()]))
    world.tick(T0 + timedelta(minutes=50))
    world.tick(T0 + timedelta(minutes=65))
    at_risk, breached = world.alerts()
    with session(sqlite_engine) as s:
        assert (root := root_alert(s, at_risk.mention_id)) is not None and root.id == at_risk.id
        assert root_alert(s, at_risk.mention_id, before=at_risk.id) is None, "it is the root"
        found = root_alert(s, at_risk.mention_id, before=breached.id)
        assert found is not None and found.id == at_risk.id
