"""The pipeline on a real SQLite file and on PostgreSQL, driven by a fake connector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors.base import BrandReply, FeedCursor, MentionRecord, PollResult
from connectors.errors import AuthError, RateLimited
from monitor.config import Config, parse_config
from monitor.ingest import feed_state
from monitor.ingest.pipeline import Pipeline, PollReport
from monitor.store.db import session
from monitor.store.models import Alert, BrandReplyRow, FeedState, Mention
from tests.support import fake_connector

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


# the fake connector registered, its queue empty (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fake_registered")


def make_config(**alerts: object) -> Config:
    return parse_config(
        {
            "brand": {
                "identities": [
                    {"platform": "fake", "handle": "AcmeSupport"},
                    {"platform": "fake", "handle": "AcmeBot", "bot": True},
                ]
            },
            "alerts": {"on": ["negative"], **alerts},
            "feeds": [{"name": "f1", "type": "fake", "interval": 60, "channel": "#support"}],
        }
    )


def mention(eid: str, text: str, minutes_ago: float = 10, **kw: object) -> MentionRecord:
    return MentionRecord(
        platform="fake",
        external_id=eid,
        created_at=NOW - timedelta(minutes=minutes_ago),
        text=text,
        author=str(kw.pop("author", "customer")),
        **kw,  # type: ignore[arg-type]
    )


def reply(eid: str, to: str, minutes_ago: float, bot: bool = False) -> BrandReply:
    return BrandReply(
        platform="fake",
        external_id=eid,
        in_reply_to=to,
        created_at=NOW - timedelta(minutes=minutes_ago),
        author="AcmeBot" if bot else "AcmeSupport",
        bot=bot,
    )


def run(
    engine: Engine, result: PollResult, config: Config | None = None, **kw: object
) -> PollReport:
    fake_connector.QUEUE["f1"].append(result)
    pipeline = Pipeline(config or make_config(), engine, httpx.Client())
    return pipeline.poll("f1", now=NOW, **kw)  # type: ignore[arg-type]


def all_rows(engine: Engine, model: type) -> list[Any]:
    with session(engine) as s:
        return list(s.exec(select(model)))


def test_new_mentions_are_stored_scored_and_negative_ones_alerted_once(engine: Engine) -> None:
    result = PollResult(
        mentions=[
            mention("1", "This is terrible service, I want a refund."),
            mention("2", "The update is lovely, it works great."),
        ],
        state=FeedCursor(cursor="c1"),
    )
    report = run(engine, result)
    assert [m.external_id for m in report.new_mentions] == ["1", "2"]
    stored = {m.external_id: m for m in all_rows(engine, Mention)}
    assert stored["1"].sentiment == "negative" and stored["2"].sentiment == "positive"
    assert stored["1"].created_at == NOW - timedelta(minutes=10)
    assert stored["1"].created_at.tzinfo is not None
    alerts = all_rows(engine, Alert)
    assert [(a.key, a.channel, a.state) for a in alerts] == [
        (f"negative:{stored['1'].id}", "#support", "pending")
    ]
    # the same page again: nothing new stored, nothing alerted again
    again = run(engine, result)
    assert again.new_mentions == [] and again.alerts == []
    assert len(all_rows(engine, Mention)) == 2 and len(all_rows(engine, Alert)) == 1
    state = all_rows(engine, FeedState)[0]
    assert (state.cursor, state.items_seen, state.consecutive_failures) == ("c1", 2, 0)


def test_brand_own_posts_are_not_mentions_and_replies_stop_the_clock(engine: Engine) -> None:
    result = PollResult(
        mentions=[
            mention("1", "Awful. Nobody answers.", minutes_ago=60),
            mention("2", "Sorry, DM us", minutes_ago=45, author="AcmeSupport", parent_id="1"),
            mention("3", "Our new blog post is out", minutes_ago=30, author="acmesupport"),
        ]
    )
    report = run(engine, result)
    assert [m.external_id for m in report.new_mentions] == ["1"]
    assert report.brand_posts == 2
    stored = all_rows(engine, Mention)[0]
    assert stored.status == "answered"
    assert stored.ttfr_seconds == 15 * 60
    assert stored.first_response_by == "AcmeSupport"
    assert all_rows(engine, Alert) == [], "an answered mention needs nobody"


def test_bot_replies_do_not_count_and_the_earliest_human_reply_wins(engine: Engine) -> None:
    run(engine, PollResult(mentions=[mention("1", "Terrible, broken again", minutes_ago=120)]))
    run(engine, PollResult(brand_replies=[reply("b1", "1", 119, bot=True), reply("r2", "1", 30)]))
    stored = all_rows(engine, Mention)[0]
    assert stored.ttfr_seconds == 90 * 60
    # a reply discovered later but stamped earlier replaces the recorded one
    run(engine, PollResult(brand_replies=[reply("r1", "1", 100)]))
    stored = all_rows(engine, Mention)[0]
    assert stored.ttfr_seconds == 20 * 60
    assert len(all_rows(engine, BrandReplyRow)) == 3


def test_a_reply_that_arrives_before_its_mention_is_matched_later(engine: Engine) -> None:
    run(engine, PollResult(brand_replies=[reply("r1", "1", 5)]))
    assert all_rows(engine, Mention) == []
    report = run(engine, PollResult(mentions=[mention("1", "Is the outage fixed?", 25)]))
    assert [m.external_id for m in report.answered] == ["1"]
    assert all_rows(engine, Mention)[0].ttfr_seconds == 20 * 60


def test_a_new_complaint_already_answered_is_reported_answered_and_not_alerted(
    engine: Engine,
) -> None:
    """The poll reports its new mentions as plain values: their status must still say that a
    reply stored before them (or in the same poll) answered them, and no alert is queued."""
    run(engine, PollResult(brand_replies=[reply("r1", "1", 5), reply("b2", "2", 5, bot=True)]))
    report = run(
        engine,
        PollResult(
            mentions=[
                mention("1", "This is terrible, broken again", 25),
                mention("2", "This is terrible, broken again", 25),
                mention("3", "This is terrible, broken again", 25),
            ],
            brand_replies=[reply("r3", "3", 1)],
        ),
    )
    assert [(m.external_id, m.status) for m in report.new_mentions] == [
        ("1", "answered"),
        ("2", "open"),  # only a bot answered
        ("3", "answered"),
    ]
    assert sorted(m.external_id for m in report.answered) == ["1", "3"]
    stored = {m.external_id: m for m in all_rows(engine, Mention)}
    assert {eid: m.id for eid, m in stored.items()} == {
        m.external_id: m.id for m in report.new_mentions
    }
    assert stored["1"].ttfr_seconds == 20 * 60 and stored["3"].ttfr_seconds == 24 * 60
    assert [a.mention_id for a in report.alerts] == [stored["2"].id]
    assert [a.key for a in all_rows(engine, Alert)] == [f"negative:{stored['2'].id}"]


def test_backfill_older_than_max_age_is_stored_but_not_alerted(engine: Engine) -> None:
    config = make_config(max_age="1h")
    result = PollResult(
        mentions=[
            mention("old", "This is a terrible, awful service", minutes_ago=61),
            mention("new", "This is a terrible, awful service", minutes_ago=59),
        ]
    )
    report = run(engine, result, config)
    assert len(report.new_mentions) == 2
    assert [a.key.split(":")[0] for a in report.alerts] == ["negative"]
    assert len(all_rows(engine, Alert)) == 1


def test_dry_run_shows_everything_and_writes_nothing(engine: Engine) -> None:
    report = run(engine, PollResult(mentions=[mention("1", "This is terrible")]), dry_run=True)
    assert len(report.new_mentions) == 1 and len(report.alerts) == 1
    assert all_rows(engine, Mention) == [] and all_rows(engine, Alert) == []
    assert all_rows(engine, FeedState) == []


def test_a_crash_inside_the_transaction_leaves_nothing_behind(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("crash after mentions were written")

    monkeypatch.setattr(feed_state, "record_success", boom)
    report = run(engine, PollResult(mentions=[mention("1", "Terrible")], state=FeedCursor("c9")))
    assert not report.ok
    assert all_rows(engine, Mention) == [] and all_rows(engine, Alert) == []
    # the failure is the feed's, recorded apart; the cursor did not move past what was lost
    [state] = all_rows(engine, FeedState)
    assert (state.cursor, state.consecutive_failures) == (None, 1)
    assert "storing the poll failed: RuntimeError: crash after" in (state.last_error or "")


def test_failures_mark_the_feed_unhealthy_and_back_off(engine: Engine) -> None:
    fake_connector.QUEUE["f1"].append(RateLimited("slow down", retry_after=120))
    pipeline = Pipeline(make_config(), engine, httpx.Client())
    report = pipeline.poll("f1", now=NOW)
    assert not report.ok and "slow down" in (report.error or "")
    state = all_rows(engine, FeedState)[0]
    assert state.consecutive_failures == 1
    assert state.next_poll_after == NOW + timedelta(seconds=120)
    fake_connector.QUEUE["f1"].append(AuthError("token rejected: set FAKE_TOKEN"))
    pipeline.poll("f1", now=NOW)
    state = all_rows(engine, FeedState)[0]
    assert state.consecutive_failures == 2
    assert state.last_error == "AuthError: token rejected: set FAKE_TOKEN"
    run(engine, PollResult(mentions=[mention("1", "fine")], state=FeedCursor("c2")))
    state = all_rows(engine, FeedState)[0]
    assert (state.consecutive_failures, state.cursor, state.next_poll_after) == (0, "c2", None)


def test_the_saved_cursor_is_handed_to_the_next_poll(engine: Engine) -> None:
    run(engine, PollResult(state=FeedCursor(cursor="abc", etag='"e1"')))
    run(engine, PollResult(state=FeedCursor(cursor="abd")))
    assert fake_connector.CALLS[0][1] == FeedCursor()
    assert fake_connector.CALLS[1][1] == FeedCursor(cursor="abc", etag='"e1"')


def test_huge_text_is_cut_not_refused(engine: Engine) -> None:
    run(engine, PollResult(mentions=[mention("big", "terrible " * 20_000)]))
    stored = all_rows(engine, Mention)[0]
    assert len(stored.text) == 20_000


def test_a_full_walk_proves_the_first_reply_exact_and_a_partial_one_never_undoes_it(
    engine: Engine,
) -> None:
    """A reply from a thread not read in full is an upper bound (ttfr_exact False); the same
    reply seen again by a walk that read everything makes it exact without changing the
    TTFR; a later partial walk saw less, not more, so it leaves it exact. Slack gets a note
    for the bound and one for the proof, and no more."""
    run(engine, PollResult(mentions=[mention("1", "Terrible, broken again", minutes_ago=120)]))
    partial = reply("r1", "1", minutes_ago=60)
    partial.earlier_unseen = True
    run(engine, PollResult(brand_replies=[partial]))
    [stored] = all_rows(engine, Mention)
    assert (stored.status, stored.ttfr_seconds, stored.ttfr_exact) == ("answered", 3600, False)

    for _ in range(2):  # the proof, then the same proof again: one note
        run(engine, PollResult(brand_replies=[reply("r1", "1", minutes_ago=60)]))
    [stored] = all_rows(engine, Mention)
    assert (stored.ttfr_seconds, stored.ttfr_exact) == (3600, True)

    run(engine, PollResult(brand_replies=[partial]))
    [stored] = all_rows(engine, Mention)
    assert stored.ttfr_exact is True
    [row] = all_rows(engine, BrandReplyRow)
    assert row.earlier_unseen is False
    stamp = int((NOW - timedelta(minutes=60)).timestamp())
    notes = sorted(a.key for a in all_rows(engine, Alert) if a.kind == "answered_update")
    assert notes == [
        f"answered_update:{stored.id}:{stamp}:exact",
        f"answered_update:{stored.id}:{stamp}:upper",
    ]


def test_an_answer_stored_before_0007_proven_exact_after_a_bound_gets_its_note(
    engine: Engine,
) -> None:
    """A mention answered before migration 0007 (exactness unknown) had its note under the
    plain key. A partial walk then marks it an upper bound (a "<=" note); the full walk that
    proves it exact must still reach Slack, or the thread keeps saying "<=" for good."""
    run(engine, PollResult(mentions=[mention("1", "Terrible, broken again", minutes_ago=120)]))
    old = reply("r1", "1", minutes_ago=60)
    run(engine, PollResult(brand_replies=[old]))
    with session(engine) as s:  # as 0007 left it: exactness unknown, the plain note sent
        [stored] = s.exec(select(Mention)).all()
        stored.ttfr_exact = None
        s.add(stored)
        for row in s.exec(select(BrandReplyRow)).all():
            row.earlier_unseen = None
            s.add(row)
        s.commit()
    stamp = int((NOW - timedelta(minutes=60)).timestamp())
    plain = f"answered_update:{stored.id}:{stamp}"
    assert plain in [a.key for a in all_rows(engine, Alert)]

    partial = reply("r1", "1", minutes_ago=60)
    partial.earlier_unseen = True
    run(engine, PollResult(brand_replies=[partial]))
    run(engine, PollResult(brand_replies=[reply("r1", "1", minutes_ago=60)]))
    [stored] = all_rows(engine, Mention)
    assert stored.ttfr_exact is True
    notes = sorted(a.key for a in all_rows(engine, Alert) if a.kind == "answered_update")
    assert notes == [plain, f"{plain}:exact", f"{plain}:upper"]
