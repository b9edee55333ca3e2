"""Clicks applied to mentions: first wins, every attempt recorded, SLA and reports follow."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.alerting.sla import Clocks
from monitor.alerting.sweeper import Sweeper
from monitor.business_hours import BusinessCalendar
from monitor.reports.status import render_status
from monitor.slack.actions import Click, apply_click, snooze_until
from monitor.slack.commands import headline, report_text
from monitor.store.db import session
from monitor.store.models import Alert, Mention
from tests.slack.support import NOW, actions, add_mention, make_config, mention_row


def click(mention_id: int | None, action: str = "claim", user: str = "ana", **kw: object) -> Click:
    return Click(action=action, mention_id=mention_id, user_id=f"U_{user}", user_name=user, **kw)  # type: ignore[arg-type]


def test_the_first_claim_wins_and_the_second_clicker_is_told_who(engine: Engine) -> None:
    mention_id = add_mention(engine)
    first = apply_click(engine, click(mention_id, user="ana"), NOW)
    second = apply_click(engine, click(mention_id, user="bo"), NOW + timedelta(seconds=1))
    assert first.applied and first.detail == "You claimed this mention."
    assert second.outcome == "lost"
    assert second.detail == "Already claimed by @ana at 2026-11-23 10:00 UTC."
    mention = mention_row(engine, mention_id)
    assert (mention.claimed_by, mention.claimed_at, mention.status) == ("ana", NOW, "open")
    rows = actions(engine)
    assert [(a.user_name, a.action, a.outcome) for a in rows] == [
        ("ana", "claim", "applied"),
        ("bo", "claim", "lost"),
    ]
    assert rows[1].at == NOW + timedelta(seconds=1)


def test_a_double_click_by_the_same_person_is_harmless(engine: Engine) -> None:
    mention_id = add_mention(engine)
    apply_click(engine, click(mention_id), NOW)
    again = apply_click(engine, click(mention_id), NOW)
    assert again.outcome == "lost" and again.detail == "You already claimed this mention."
    assert mention_row(engine, mention_id).claimed_at == NOW


def test_concurrent_clicks_on_one_alert_have_exactly_one_winner(engine: Engine) -> None:
    mention_id = add_mention(engine)
    people = ["ana", "bo", "cy", "di", "ed"]
    barrier = threading.Barrier(len(people))
    outcomes: dict[str, str] = {}

    def press(user: str) -> None:
        barrier.wait()
        outcomes[user] = apply_click(engine, click(mention_id, user=user), NOW).outcome

    threads = [threading.Thread(target=press, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [user for user, outcome in outcomes.items() if outcome == "applied"]
    assert len(winners) == 1
    assert sorted(outcomes.values()) == ["applied", "lost", "lost", "lost", "lost"]
    assert mention_row(engine, mention_id).claimed_by == winners[0]
    rows = actions(engine)
    assert sorted(a.user_name or "" for a in rows) == people  # every attempt is kept
    assert [a.user_name for a in rows if a.outcome == "applied"] == winners


def test_handled_and_dismiss_race_the_first_decides_the_status(engine: Engine) -> None:
    mention_id = add_mention(engine)
    assert apply_click(engine, click(mention_id, "handled", "ana"), NOW).applied
    late = apply_click(engine, click(mention_id, "dismiss", "bo"), NOW)
    assert late.detail == "Already marked handled by @ana at 2026-11-23 10:00 UTC."
    mention = mention_row(engine, mention_id)
    assert (mention.status, mention.resolved_by, mention.resolved_at) == ("handled", "ana", NOW)
    assert mention.first_response_at is None  # handled is not a platform reply


def test_a_click_for_a_mention_that_is_gone_is_recorded_as_unknown(engine: Engine) -> None:
    outcome = apply_click(engine, click(987654), NOW)
    assert outcome.outcome == "unknown"
    (row,) = actions(engine)
    assert (row.mention_id, row.outcome) == (None, "unknown")
    assert row.detail == "The mention #987654 is no longer in the database."


def test_handled_and_dismissed_mentions_leave_the_sla_clock(engine: Engine) -> None:
    config = make_config()
    handled, dismissed, open_ = (
        add_mention(engine),
        add_mention(engine, NOW),
        add_mention(engine, NOW + timedelta(seconds=1)),
    )
    apply_click(engine, click(handled, "handled"), NOW)
    apply_click(engine, click(dismissed, "dismiss"), NOW)
    report = Sweeper(config, engine).run_once(NOW + timedelta(hours=2))
    assert report.breached == 1  # only the one still open
    with session(engine) as s:
        keys = set(s.exec(select(Alert.key)).all())
    assert f"sla_breached:{open_}" in keys
    assert f"sla_breached:{handled}" not in keys and f"sla_breached:{dismissed}" not in keys


def test_a_snoozed_mention_gets_its_sla_alerts_only_after_the_snooze(engine: Engine) -> None:
    config = make_config()
    mention_id = add_mention(engine)  # created 09:40, at risk 10:25, due 10:40
    until = snooze_until("1h", NOW, config_calendar())
    assert until == NOW + timedelta(hours=1)
    assert apply_click(engine, click(mention_id, "snooze", value="1h"), NOW, until=until).applied
    sweeper = Sweeper(config, engine)
    assert sweeper.run_once(NOW + timedelta(minutes=50)).breached == 0  # 10:50, snoozed
    mention = mention_row(engine, mention_id)
    assert (mention.sla_state, mention.snoozed_by) == ("on_track", "ana")
    assert sweeper.run_once(NOW + timedelta(minutes=61)).breached == 1  # 11:01, snooze over


def test_a_second_snooze_while_snoozed_is_refused(engine: Engine) -> None:
    mention_id = add_mention(engine)
    until = NOW + timedelta(hours=4)
    apply_click(engine, click(mention_id, "snooze", "ana", value="4h"), NOW, until=until)
    late = apply_click(engine, click(mention_id, "snooze", "bo", value="1h"), NOW, until=NOW)
    assert late.detail == "Already snoozed until 2026-11-23 14:00 UTC by @ana."
    assert mention_row(engine, mention_id).snoozed_until == until


def config_calendar() -> BusinessCalendar:
    return Clocks(make_config()).calendar("acme-reddit")


def test_snooze_until_tomorrow_means_the_next_opening_hour_in_the_feed_zone() -> None:
    calendar = config_calendar()  # Europe/Amsterdam, default weekly hours
    friday_evening = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
    tuesday = snooze_until("tomorrow", NOW, calendar)
    assert tuesday == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # Tuesday 09:00 CET
    assert snooze_until("tomorrow", friday_evening, calendar) == datetime(
        2026, 11, 30, 8, 0, tzinfo=UTC
    )  # Saturday has no hours: Monday 09:00 CET


def test_snooze_until_tomorrow_without_opening_hours_is_nine_in_the_morning() -> None:
    never_open = BusinessCalendar("America/New_York", {})
    assert snooze_until("tomorrow", NOW, never_open) == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def test_dismissed_mentions_stay_out_of_the_reply_rate_and_handled_is_counted_apart(
    engine: Engine,
) -> None:
    ids = [add_mention(engine, NOW - timedelta(hours=h)) for h in (3, 4, 5, 6)]
    with session(engine) as s:
        answered = s.get(Mention, ids[0])
        assert answered is not None
        answered.status, answered.ttfr_seconds, answered.sla_met = "answered", 1800.0, True
        answered.ttfr_business_seconds = 1200.0
        s.add(answered)
        s.commit()
    apply_click(engine, click(ids[1], "dismiss"), NOW)
    apply_click(engine, click(ids[2], "handled"), NOW)
    numbers = headline(engine, NOW, 86400)
    # answered 1, open past SLA 1 (ids[3], due 5 h ago), dismissed and handled apart
    assert (numbers.answered, numbers.open_past_sla, numbers.dismissed, numbers.handled) == (
        1,
        1,
        1,
        1,
    )
    assert numbers.reply_rate == 0.5
    assert numbers.median_ttfr == 1800.0 and numbers.median_ttfr_business == 1200.0


def test_monitor_report_says_how_many_response_times_are_upper_bounds(engine: Engine) -> None:
    ids = [add_mention(engine, NOW - timedelta(hours=h)) for h in (3, 4, 5)]
    with session(engine) as s:
        for mention_id, exact in zip(ids, (True, False, None), strict=True):
            mention = s.get(Mention, mention_id)
            assert mention is not None
            mention.status, mention.ttfr_seconds, mention.ttfr_exact = "answered", 600.0, exact
            s.add(mention)
        s.commit()
    assert headline(engine, NOW, 86400).ttfr_not_exact == 1
    text = report_text(make_config(), engine, NOW, 86400, "24h")
    assert "1 of 3 answers not exact, upper bounds (≤)" in text
    with session(engine) as s:
        mention = s.get(Mention, ids[1])
        assert mention is not None
        mention.ttfr_exact = True
        s.add(mention)
        s.commit()
    assert "not exact" not in report_text(make_config(), engine, NOW, 86400, "24h")


def test_monitor_status_lists_who_claimed_what(engine: Engine) -> None:
    mention_id = add_mention(engine)
    apply_click(engine, click(mention_id, user="ana"), NOW - timedelta(minutes=12))
    text = render_status(make_config(), engine, NOW)
    assert "claimed, still open: 1" in text
    assert f"#{mention_id} reddit (acme-reddit) claimed by @ana 12m ago" in text
