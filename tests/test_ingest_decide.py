"""The ingest's decision, on plain values: no database, no session."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from connectors.base import BrandIdentity, BrandReply, FeedCursor, MentionRecord, PollResult
from monitor.alerting.sla import Clocks
from monitor.config import parse_config
from monitor.ingest.decide import (
    Answer,
    FollowUp,
    Page,
    Plan,
    ReplyRow,
    Rules,
    Stored,
    decide,
)
from monitor.sentiment.analyzer import Sentiment
from monitor.states import AlertKind, MentionStatus

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BRAND = [BrandIdentity("fake", "AcmeSupport"), BrandIdentity("fake", "AcmeBot", bot=True)]
NEGATIVE = Sentiment("negative", -0.8, 0.9, "textblob", "en", 0.99)
POSITIVE = Sentiment("positive", 0.8, 0.9, "textblob", "en", 0.99)


def rules(on: tuple[str, ...]) -> Rules:
    config = parse_config(
        {"feeds": [{"name": "f1", "type": "rss", "url": "https://example.org/feed.xml"}]}
    )
    return Rules(Clocks(config), frozenset(on), max_age=86_400)


def record(eid: str, minutes_ago: float = 10, **kw: object) -> MentionRecord:
    return MentionRecord(
        platform="fake",
        external_id=eid,
        created_at=NOW - timedelta(minutes=minutes_ago),
        text=f"text of {eid}",
        author=str(kw.pop("author", "customer")),
        **kw,  # type: ignore[arg-type]
    )


def reply(eid: str, to: str, minutes_ago: float, **kw: object) -> BrandReply:
    return BrandReply(
        platform="fake",
        external_id=eid,
        in_reply_to=to,
        created_at=NOW - timedelta(minutes=minutes_ago),
        author="AcmeSupport",
        **kw,  # type: ignore[arg-type]
    )


def stored_reply(id_: int, eid: str, to: str, minutes_ago: float, **kw: object) -> ReplyRow:
    values: dict[str, object] = dict(
        id=id_,
        platform="fake",
        external_id=eid,
        in_reply_to=to,
        created_at=NOW - timedelta(minutes=minutes_ago),
        seen_at=NOW - timedelta(minutes=1),
        author="AcmeSupport",
        url=None,
        text=None,
        bot=False,
        seen_modified_only=False,
        earlier_unseen=False,
    )
    return ReplyRow(**(values | kw))  # type: ignore[arg-type]


def stored_mention(id_: int, eid: str, minutes_ago: float = 60, **kw: object) -> Answer:
    created = NOW - timedelta(minutes=minutes_ago)
    mention = Answer(id_, "fake", eid, "f1", created, MentionStatus.OPEN)
    return replace(mention, **kw)  # type: ignore[arg-type]


def plan_of(
    page: Page,
    stored: Stored | None = None,
    scores: list[Sentiment] | None = None,
    on: tuple[str, ...] = ("negative",),
) -> Plan:
    """The plan for `page`; its fresh mentions score negative unless `scores` says."""
    stored = stored or Stored()
    if scores is None:
        scores = [NEGATIVE] * len(page.fresh(stored.ids))
    return decide(page, scores, stored, rules(on), NOW)


def test_the_brands_own_posts_become_replies_and_duplicates_count_once() -> None:
    result = PollResult(
        mentions=[
            record("1"),
            record("1"),
            record("2", author="AcmeSupport", parent_id="1"),
            record("3", author="AcmeSupport"),  # answers nothing: dropped
        ],
        state=FeedCursor("c2"),
    )
    page = Page.of("f1", result, BRAND)
    assert [r.external_id for r in page.records] == ["1"]
    assert [(r.external_id, r.in_reply_to) for r in page.replies] == [("2", "1")]
    assert (page.fetched, page.brand_posts, page.state) == (4, 2, FeedCursor("c2"))


def test_a_new_mention_is_inserted_with_its_clock_started_and_alerted_by_sentiment() -> None:
    page = Page("f1", [record("1"), record("2")], state=FeedCursor("c1"))
    plan = plan_of(page, scores=[NEGATIVE, POSITIVE])
    first, second = plan.mentions
    assert first.values["external_id"] == "1" and first.values["sentiment"] == "negative"
    assert first.values["sla_due_at"] is not None and first.values["fetched_at"] == NOW
    assert (first.status, first.alert) == (MentionStatus.OPEN, AlertKind.NEGATIVE)
    assert second.alert is None  # positive is not in alerts.on
    assert plan.state == FeedCursor("c1") and plan.answers == ()


def test_on_all_a_positive_mention_is_a_mention_alert_and_history_is_not_alerted() -> None:
    page = Page("f1", [record("1"), record("old", minutes_ago=3 * 24 * 60)])
    plan = plan_of(page, scores=[POSITIVE, NEGATIVE], on=("all",))
    assert [row.alert for row in plan.mentions] == [AlertKind.MENTION, None]


def test_a_stored_mention_is_not_inserted_again_and_an_edit_after_reply_is_noted() -> None:
    page = Page("f1", [record("1", edited_after_reply=True, rating=2.0), record("2")])
    stored = Stored(ids={("fake", "1"): (7, False), ("fake", "2"): (8, False)})
    plan = plan_of(page, stored)
    assert plan.mentions == ()
    assert plan.edited == (7,)
    assert plan.edit_notes == (
        FollowUp(7, AlertKind.REVIEW_EDITED, "review_edited:7", "2 stars: text of 1"),
    )
    noted = Stored(ids={("fake", "1"): (7, True)})
    assert plan_of(Page("f1", [record("1", edited_after_reply=True)]), noted).edited == ()


def test_a_new_mention_a_stored_reply_answers_is_answered_and_not_alerted() -> None:
    page = Page("f1", [record("1", minutes_ago=30)])
    stored = Stored(answers=[stored_reply(3, "r1", "1", minutes_ago=20)])
    plan = plan_of(page, stored)
    [row] = plan.mentions
    assert (row.status, row.alert) == (MentionStatus.ANSWERED, None)
    [answer] = plan.answers
    assert (answer.id, answer.external_id) == (None, "1")
    assert answer.first_response_at == NOW - timedelta(minutes=20)
    assert answer.ttfr_seconds == 600 and answer.ttfr_exact is True
    assert plan.answered_updates == ()  # a new mention has no Slack message to update


def test_a_reply_to_a_stored_mention_is_inserted_answers_it_and_updates_its_message() -> None:
    page = Page("f1", replies=[reply("r1", "1", minutes_ago=50, earlier_unseen=True)])
    stored = Stored(targets={("fake", "1"): stored_mention(7, "1", minutes_ago=60)})
    plan = plan_of(page, stored)
    [inserted] = plan.reply_inserts
    assert (inserted.id, inserted.external_id, inserted.seen_at) == (None, "r1", NOW)
    [answer] = plan.answers
    assert answer.id == 7 and answer.status == MentionStatus.ANSWERED
    assert answer.ttfr_seconds == 600 and answer.ttfr_exact is False
    at = int((NOW - timedelta(minutes=50)).timestamp())
    assert plan.answered_updates == (
        FollowUp(7, AlertKind.ANSWERED_UPDATE, f"answered_update:7:{at}:upper", routed=False),
    )


def test_an_earlier_reply_found_later_wins_and_a_later_one_changes_nothing() -> None:
    answered = stored_mention(
        7,
        "1",
        minutes_ago=60,
        status=MentionStatus.ANSWERED,
        first_response_at=NOW - timedelta(minutes=30),
        ttfr_exact=True,
        ttfr_seconds=1800.0,
    )
    stored = Stored(targets={("fake", "1"): answered})
    earlier = plan_of(Page("f1", replies=[reply("r0", "1", minutes_ago=55)]), stored)
    [answer] = earlier.answers
    assert answer.first_response_at == NOW - timedelta(minutes=55) and answer.ttfr_seconds == 300
    later = plan_of(Page("f1", replies=[reply("r2", "1", minutes_ago=10)]), stored)
    assert later.answers == () and later.answered_updates == ()
    assert len(later.reply_inserts) == 1


def test_a_bot_reply_is_stored_but_answers_nothing() -> None:
    page = Page("f1", [record("1", minutes_ago=30)], [reply("r1", "1", 20, bot=True)])
    plan = plan_of(page)
    assert len(plan.reply_inserts) == 1 and plan.answers == ()
    assert plan.mentions[0].alert == AlertKind.NEGATIVE


def test_a_full_walk_marks_a_same_time_answer_exact_and_is_never_taken_back() -> None:
    upper = stored_mention(
        7,
        "1",
        status=MentionStatus.ANSWERED,
        first_response_at=NOW - timedelta(minutes=30),
        ttfr_exact=False,
    )
    row = stored_reply(3, "r1", "1", minutes_ago=30, earlier_unseen=True)
    stored = Stored(replies={("fake", "r1"): row}, targets={("fake", "1"): upper}, answers=[row])
    walked = reply("r1", "1", minutes_ago=30, earlier_unseen=False)
    plan = plan_of(Page("f1", replies=[walked]), stored)
    assert plan.reply_changes == (replace(row, earlier_unseen=False),)
    [answer] = plan.answers
    assert answer.ttfr_exact is True and answer.first_response_at == upper.first_response_at
    # a message of its own replaces the "<=" note: not the plain key, which a mention
    # answered before migration 0007 (ttfr_exact unknown) has used already
    stamp = int(upper.first_response_at.timestamp())  # type: ignore[union-attr]
    assert [u.key for u in plan.answered_updates] == [f"answered_update:7:{stamp}:exact"]
    exact = Stored(
        replies={("fake", "r1"): replace(row, earlier_unseen=False)},
        targets={("fake", "1"): replace(upper, ttfr_exact=True)},
        answers=[replace(row, earlier_unseen=False)],
    )
    partial = reply("r1", "1", minutes_ago=30, earlier_unseen=True)
    another = reply("r2", "1", minutes_ago=30, earlier_unseen=True)  # same time, partial
    again = plan_of(Page("f1", replies=[partial, another]), exact)
    assert again.reply_changes == () and again.answers == ()


def test_an_earlier_timestamp_of_a_stored_reply_wins_unless_it_was_a_modified_time() -> None:
    row = stored_reply(3, "r1", "1", minutes_ago=20)
    earlier = reply("r1", "1", minutes_ago=25)
    plan = plan_of(Page("f1", replies=[earlier]), Stored(replies={("fake", "r1"): row}))
    assert plan.reply_changes == (replace(row, created_at=earlier.created_at),)
    modified = replace(row, seen_modified_only=True)
    kept = plan_of(Page("f1", replies=[earlier]), Stored(replies={("fake", "r1"): modified}))
    assert kept.reply_changes == () and kept.reply_inserts == ()


def test_a_recheck_leaves_the_feed_state_and_old_mentions_messages_alone() -> None:
    stored = Stored(targets={("fake", "1"): stored_mention(7, "1", minutes_ago=60)})
    since = NOW - timedelta(minutes=30)
    page = Page("f1", replies=[reply("r1", "1", minutes_ago=50)], updates_since=since)
    plan = plan_of(page, stored)
    assert plan.state is None
    assert [a.id for a in plan.answers] == [7] and plan.answered_updates == ()
