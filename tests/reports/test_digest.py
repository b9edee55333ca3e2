"""The weekly digest: cron in the configured zone, last week against the one before, to Slack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlmodel import select

from alerts.slack import SlackSink
from monitor.alerting.outbox import Dispatcher
from monitor.config import Config, parse_config
from monitor.reports.digest import JOB_ID, DigestJob, digest_body, last_week, schedule_digest
from monitor.store.db import session
from monitor.store.models import Alert
from tests.reports.dataset import answered, load, mention
from tests.support.fake_slack import FakeSlack, fake_slack

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# Monday 23 November 2026, 09:00 in Amsterdam is 08:00 UTC (winter time)
LAST_WEEK = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
WEEK_BEFORE = datetime(2026, 11, 9, 12, 0, tzinfo=UTC)


def make_config(**digest: object) -> Config:
    return parse_config(
        {
            "brand": {"name": "Acme"},
            "slack": {"default_channel": "#support"},
            "reports": {
                "timezone": "Europe/Amsterdam",
                "digest": {"enabled": True, "channel": "#managers", "hour": 9, **digest},
            },
        }
    )


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def weeks_of_data(engine: Engine) -> None:
    load(
        engine,
        [
            # last week: 3 answered (30m, 1h, 2h), one open past due -> reply rate 75 %,
            # SLA compliance 2 met / (3 answered + 1 open past due) = 50 %
            answered("reddit", LAST_WEEK, 1800, 1800, True),
            answered("reddit", LAST_WEEK, 3600, 3600, True),
            answered("reddit", LAST_WEEK, 7200, 3600, False),
            mention("reddit", LAST_WEEK, sla_due_at=LAST_WEEK + timedelta(hours=4)),
            # the week before: 2 answered (2h, 4h): reply rate 100 %, median 3h, SLA 1 / 2
            answered("reddit", WEEK_BEFORE, 7200, 7200, True),
            answered("reddit", WEEK_BEFORE, 14400, 7200, False),
        ],
    )


def test_the_digest_fires_on_monday_at_nine_in_the_configured_zone(engine: Engine) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    job = schedule_digest(scheduler, make_config(), engine)
    assert job is not None and job.id == JOB_ID
    thursday = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    fire = job.trigger.get_next_fire_time(None, thursday)
    local = fire.astimezone(AMSTERDAM)
    assert (local.strftime("%A"), local.hour, local.minute) == ("Monday", 9, 0)
    assert fire.astimezone(UTC) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    # in summer time the same local hour is 07:00 UTC
    june = job.trigger.get_next_fire_time(None, datetime(2026, 6, 10, tzinfo=UTC))
    assert june.astimezone(UTC) == datetime(2026, 6, 15, 7, 0, tzinfo=UTC)


def test_disabled_digest_adds_no_job(engine: Engine) -> None:
    scheduler = BackgroundScheduler(timezone="UTC")
    assert schedule_digest(scheduler, make_config(enabled=False), engine) is None
    assert scheduler.get_jobs() == []


def test_last_week_is_monday_to_monday_local() -> None:
    start, end = last_week(datetime(2026, 11, 23, 8, 0, tzinfo=UTC), AMSTERDAM)
    assert start == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)  # Mon 16 Nov 00:00 local
    assert end == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    # across the end of summer time the week is 169 hours long
    start, end = last_week(datetime(2026, 10, 26, 9, 0, tzinfo=UTC), AMSTERDAM)
    assert end - start == timedelta(hours=169)


def test_digest_is_posted_to_slack_with_last_week_against_the_week_before(
    engine: Engine, slack: FakeSlack
) -> None:
    weeks_of_data(engine)
    config = make_config(report_url="https://reports.example/acme.html")
    scheduler = BackgroundScheduler(timezone="UTC")
    job = schedule_digest(scheduler, config, engine)
    # a fake clock: the scheduler's own next fire time after a Sunday evening
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 11, 22, 20, 0, tzinfo=UTC))
    assert fire.astimezone(AMSTERDAM).strftime("%a %H:%M") == "Mon 09:00"
    alert = job.func(now=fire)
    assert alert is not None and alert.kind == "digest" and alert.channel == "#managers"
    sink = SlackSink(slack.token, base_url=slack.api_url, timeout=5)
    report = Dispatcher(engine, sink, pace=0, clock=lambda: fire).run_once(fire)
    assert report.sent == 1
    [posted] = slack.messages
    assert posted.channel == "#managers"
    text = str(posted.raw)
    assert "Acme: weekly response report, 16 Nov – 22 Nov 2026 (Europe/Amsterdam)" in text
    assert "Mentions: 4 (+2 on the week before: 2)" in text
    assert "Reply rate: 75% (-25 pts), answered 3 of 4 expecting a reply" in text
    assert "Median time to first response: 1h 00m (was 3h 00m, faster)" in text
    # the open mention past due counts as missed, not only the late answer
    assert "SLA compliance: 50% (+0 pts)" in text
    assert "Still open from last week: 1 (1 past their SLA, 0 not yet due)" in text
    assert "https://reddit.example/" in text  # the slowest unanswered mention's link
    assert "https://reports.example/acme.html" in text


def test_a_second_run_in_the_same_week_queues_nothing(engine: Engine) -> None:
    config = make_config()
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    woken: list[bool] = []
    job = DigestJob(config, engine, wake=lambda: woken.append(True))
    assert job(now=now) is not None
    assert job(now=now + timedelta(minutes=5)) is None
    with session(engine) as s:
        rows = s.exec(select(Alert).where(Alert.kind == "digest")).all()
    assert [r.key for r in rows] == ["weekly-digest:2026-11-16"] and woken == [True]


def test_digest_of_an_empty_store_says_so_without_failing(engine: Engine) -> None:
    _, body = digest_body(make_config(), engine, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    assert "Mentions: 0 (+0 on the week before: 0)" in body
    assert "Reply rate: -, answered 0" in body
    assert "Median time to first response: -;" in body


def test_the_digest_says_how_many_answers_are_upper_bounds(engine: Engine) -> None:
    """One of last week's three answers came from a thread not read in full."""
    load(
        engine,
        [
            answered("reddit", LAST_WEEK, 1800, 1800, True, ttfr_exact=True),
            answered("reddit", LAST_WEEK, 3600, 3600, True, ttfr_exact=False),
            answered("reddit", LAST_WEEK, 7200, 3600, False),
        ],
    )
    _, body = digest_body(make_config(), engine, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    assert (
        "Not exact: 1 of 3 answers came from threads not read in full; their times are upper"
        " bounds (≤)" in body
    )


def test_the_service_registers_the_digest_job(sqlite_engine: Engine) -> None:
    from monitor.alerting.sinks import make_sink
    from monitor.ingest.pipeline import Pipeline
    from monitor.scheduler import Service

    config = make_config()
    with httpx.Client() as client:
        pipeline = Pipeline(config, sqlite_engine, client)
        service = Service(config, pipeline, Dispatcher(sqlite_engine, make_sink(config), pace=0))
        service.start()
        try:
            job = service.scheduler.get_job(JOB_ID)
            assert job is not None and str(job.trigger.timezone) == "Europe/Amsterdam"
        finally:
            service.stop()
