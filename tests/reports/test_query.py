"""Report numbers on SQLite and PostgreSQL against values worked out by hand (dataset.py)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.reports.query import (
    Durations,
    GroupStats,
    Window,
    _count_rows,
    aggregate,
    aggregate_many,
    build_report,
    histogram,
    parse_since,
    parse_until,
    percentile,
    ttfr_query,
)
from monitor.store.db import open_store
from tests.reports.dataset import NOW, SINCE, UNTIL, WEEK2, H, answered, load, mention

UTC_ZONE = ZoneInfo("UTC")
WINDOW = Window(since=SINCE, until=UNTIL, now=NOW, tz=UTC_ZONE)


def by_group(engine: Engine, by: str, window: Window = WINDOW) -> dict[str, GroupStats]:
    return {g.group: g for g in aggregate(engine, window, by)}  # type: ignore[arg-type]


def test_odd_count_median_is_the_middle_answer_and_p90_interpolates(engine: Engine) -> None:
    load(engine)
    reddit = by_group(engine, "platform")["reddit"]
    assert reddit.mentions == 8
    assert reddit.answered == 3
    assert astuple(reddit.ttfr) == pytest.approx((3, 1800, 6120, 3200))
    # 1800 + (7200 - 1800) * 0.8 = 6120 ; business: 1800 + (3600 - 1800) * 0.8 = 3240
    assert astuple(reddit.ttfr_business) == pytest.approx((3, 1800, 3240, 2000))
    assert reddit.buckets == [2, 1, 0, 0, 0]


def test_even_count_median_averages_the_middle_two_and_ties_count_once_each(
    engine: Engine,
) -> None:
    load(engine)
    trustpilot = by_group(engine, "platform")["trustpilot"]
    # sorted 3600, 3600, 3600, 90000: median (3600 + 3600) / 2; p90 3600 + 86400 * 0.7
    assert astuple(trustpilot.ttfr) == pytest.approx((4, 3600, 64080, 25200))
    assert trustpilot.ttfr_business.median == 3600
    assert trustpilot.ttfr_business.p90 == pytest.approx(3600 + 25200 * 0.7)
    # exactly one hour is not "0-1h": lower bounds are inclusive
    assert trustpilot.buckets == [0, 3, 0, 0, 1]


def test_reply_rate_counts_every_open_and_expired_mention_but_not_dismissed_or_handled(
    engine: Engine,
) -> None:
    load(engine)
    reddit = by_group(engine, "platform")["reddit"]
    assert (reddit.open, reddit.open_past_sla, reddit.open_not_due, reddit.expired) == (2, 1, 1, 1)
    assert (reddit.dismissed, reddit.handled) == (1, 1)
    # 3 answered of 3 answered + 2 open (whatever their age) + 1 expired
    assert reddit.expecting_reply == 6 and reddit.reply_rate == pytest.approx(3 / 6)
    # 2 within target of 3 answered + 1 open past due + 1 expired; the one not yet due is out
    assert reddit.sla_met == 2 and reddit.sla_judged == 5
    assert reddit.sla_rate == pytest.approx(2 / 5)
    assert reddit.oldest_open_at == WEEK2 - timedelta(hours=3)
    assert reddit.oldest_open_age(NOW) == (NOW - WEEK2).total_seconds() + 3 * H


def test_one_answered_of_five_reads_20_percent_not_100(engine: Engine) -> None:
    # the demo's reddit shape: 1 answered, 4 open (one past due, three not yet due)
    load(
        engine,
        [
            answered("reddit", WEEK2, 600, 600, True, sla_due_at=WEEK2 + timedelta(hours=4)),
            mention("reddit", WEEK2, sla_due_at=NOW - timedelta(hours=1)),
            *(mention("reddit", WEEK2, sla_due_at=NOW + timedelta(hours=h)) for h in (1, 2, 3)),
        ],
    )
    reddit = by_group(engine, "platform")["reddit"]
    assert reddit.reply_rate == pytest.approx(1 / 5)
    assert (reddit.open_past_sla, reddit.open_not_due) == (1, 3)
    assert reddit.sla_rate == pytest.approx(1 / 2)


def test_backfilled_history_without_a_clock_is_never_past_sla(engine: Engine) -> None:
    # a backfill stores a due time but no clock (sla_state "backfill", monitor/alerting/sla.py)
    history = [
        mention("reddit", WEEK2, sla_due_at=WEEK2 + timedelta(hours=4), sla_state="backfill")
        for _ in range(3)
    ]
    history.append(
        mention("reddit", WEEK2, status="expired", sla_due_at=WEEK2, sla_state="backfill")
    )
    history.append(
        answered("reddit", WEEK2, 90000, 90000, False, sla_state="backfill", sla_due_at=WEEK2)
    )
    history.append(answered("reddit", WEEK2, 600, 600, True, sla_state="on_track"))
    load(engine, history)
    reddit = by_group(engine, "platform")["reddit"]
    assert (reddit.open, reddit.open_past_sla, reddit.open_not_due, reddit.open_no_clock) == (
        3,
        0,
        0,
        3,
    )
    # still unanswered as far as we know: in the reply rate, out of every SLA figure
    assert reddit.reply_rate == pytest.approx(2 / 6)
    assert (reddit.sla_answered, reddit.sla_expired, reddit.sla_judged) == (1, 0, 1)
    assert reddit.sla_rate == 1.0


def test_survey_answers_expect_no_reply(engine: Engine) -> None:
    load(engine)
    survey = by_group(engine, "platform")["survey"]
    assert survey.mentions == 5 and survey.surveys == 5
    assert (survey.open, survey.expecting_reply, survey.open_past_sla) == (0, 0, 0)
    assert survey.reply_rate is None and survey.sla_rate is None
    assert survey.oldest_open_at is None
    # a survey answer past a due time is not in the total's reply rate or SLA either
    load(engine, [mention("nps", WEEK2, score=2, sla_due_at=WEEK2, status="expired")])
    total = build_report(engine, WINDOW, "platform").total
    assert total.reply_rate == pytest.approx(7 / 10) and total.sla_rate == pytest.approx(5 / 9)
    assert total.surveys == 6 and total.expired == 1


def test_group_without_answers_has_no_rate_and_no_durations(engine: Engine) -> None:
    load(engine)
    survey = by_group(engine, "platform")["survey"]
    assert survey.mentions == 5 and survey.answered == 0
    assert survey.reply_rate is None  # survey answers: no reply expected
    assert survey.sla_rate is None
    assert survey.ttfr == Durations() and survey.ttfr.median is None
    assert survey.buckets == [0] * 5


def test_ratings_average_and_distribution_and_nps(engine: Engine) -> None:
    load(engine)
    groups = by_group(engine, "platform")
    trustpilot, survey = groups["trustpilot"], groups["survey"]
    assert trustpilot.ratings == [1, 0, 0, 1, 2]
    assert trustpilot.rating_mean == pytest.approx((1 + 5 + 5 + 4) / 4)
    assert trustpilot.nps is None
    # scores 10, 9, 9 promoters; 8 passive; 3 detractor: 60 % - 20 % = +40
    assert (survey.promoters, survey.passives, survey.detractors) == (3, 1, 1)
    assert survey.nps == pytest.approx(40.0)
    assert survey.rating_mean is None


def test_total_merges_every_group_durations(engine: Engine) -> None:
    load(engine)
    report = build_report(engine, WINDOW, "platform")
    total = report.total
    assert total.mentions == 17  # the two outside the window are not counted
    # 600 1800 3600 3600 3600 7200 90000
    assert total.ttfr.median == 3600
    assert total.ttfr.p90 == pytest.approx(7200 + (90000 - 7200) * 0.4)
    assert total.ttfr.mean == pytest.approx(110400 / 7)
    # survey answers are out: 7 answered of 7 + 2 open + 1 expired expecting a reply
    assert total.reply_rate == pytest.approx(7 / 10)
    # 5 met of 7 answered + 1 open past due + 1 expired
    assert total.sla_rate == pytest.approx(5 / 9)
    assert total.sentiment == {"negative": 3, "neutral": 8, "positive": 4, "unscored": 2}
    assert total.buckets == [2, 4, 0, 0, 1]
    assert total.nps == pytest.approx(40.0)
    assert [g.group for g in report.groups] == ["reddit", "survey", "trustpilot"]


def test_weeks_without_mentions_are_left_out(engine: Engine) -> None:
    load(engine)
    weeks = aggregate(engine, WINDOW, "week")
    assert [w.group for w in weeks] == ["2026-11-09", "2026-11-16"]  # 11-02 had none
    second, third = weeks
    assert second.period_start == SINCE + timedelta(days=7)
    assert second.period_end == SINCE + timedelta(days=14)
    assert second.mentions == 8 and third.mentions == 9
    assert third.ttfr.median == 3600


def test_weeks_are_cut_at_local_midnight_of_the_report_time_zone(engine: Engine) -> None:
    # Sunday 23:30 UTC is already Monday 00:30 in Amsterdam (UTC+1 in November)
    late = datetime(2026, 11, 15, 23, 30, tzinfo=UTC)
    load(engine, [mention("reddit", late)])
    utc = by_group(engine, "week")
    amsterdam = Window(SINCE, UNTIL, NOW, ZoneInfo("Europe/Amsterdam"))
    local = by_group(engine, "week", amsterdam)
    assert utc["2026-11-09"].mentions == 1
    assert local["2026-11-16"].mentions == 1 and "2026-11-09" not in local
    assert local["2026-11-16"].period_start == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)


def test_language_and_sentiment_groups(engine: Engine) -> None:
    load(engine)
    languages = by_group(engine, "language")
    assert {k: g.mentions for k, g in languages.items()} == {
        "en": 9,
        "nl": 2,
        "unknown": 6,  # 5 undetermined ("und") and 1 never detected: one group
    }
    sentiments = by_group(engine, "sentiment")
    assert sentiments["negative"].answered == 3
    assert sentiments["negative"].ttfr.median == 1800


def test_empty_database_gives_a_total_of_zeros(engine: Engine) -> None:
    report = build_report(engine, WINDOW, "platform", charts=True)
    assert report.groups == [] and report.total.mentions == 0
    assert report.total.reply_rate is None and report.total.ttfr.median is None
    assert report.weekly == [] and report.platforms == []


def test_slowest_open_lists_oldest_first_whenever_created(engine: Engine) -> None:
    load(engine)
    old = mention("reddit", SINCE - timedelta(days=3))  # before the window, still open
    load(engine, [old, answered("reddit", SINCE - timedelta(days=4), 5, 5, True)])
    report = build_report(engine, WINDOW, "platform", slowest=3)
    assert [m.created_at for m in report.slowest] == [
        SINCE - timedelta(days=3),
        WEEK2 - timedelta(hours=3),
        WEEK2 + timedelta(hours=5),
    ]


def test_percentile_by_hand() -> None:
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0], 0.5) == 1.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == pytest.approx(
        9.1
    )


def test_an_in_memory_store_reports_from_its_one_database() -> None:
    # a second thread would open a second, empty, in-memory database
    engine = open_store("sqlite://")
    load(engine)
    assert by_group(engine, "platform", WINDOW)["reddit"].mentions == 8
    engine.dispose()


def test_sqlite_reads_the_response_times_from_the_covering_index_alone(tmp_path: Path) -> None:
    # SQLAlchemy's SQLite dialect drops with_hint(): the INDEXED BY must be in the SQL itself
    engine = open_store(f"sqlite:///{tmp_path / 'plan.db'}")
    sql = str(ttfr_query(engine, ["platform", "language"]))
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql.replace(':since', '?').replace(':until', '?')}",
            ("2026-01-01", "2026-02-01"),
        ).all()
    assert any("COVERING INDEX ix_mention_report" in row[-1] for row in plan), plan
    engine.dispose()


def test_a_report_neither_waits_for_nor_blocks_a_polls_write_transaction(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'busy.db'}")
    load(engine)
    poll = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    poll.execute("BEGIN IMMEDIATE")  # a poll's transaction holds the write lock
    poll.execute("UPDATE feed_state SET items_seen = items_seen")
    with ThreadPoolExecutor(1) as pool:
        # a report taking the write lock too would wait here for busy_timeout (30 s)
        report = pool.submit(by_group, engine, "platform").result(timeout=10)
        assert report["reddit"].mentions == 8
        # and the poll can still commit while a report reads
        poll.execute("COMMIT")
    poll.close()
    engine.dispose()


def test_histogram_bounds_are_inclusive_below_and_exclusive_above() -> None:
    hour = 3600.0
    ordered = [-5.0, 0.0, hour - 0.001, hour, 4 * hour, 24 * hour - 1, 24 * hour, 40 * 24 * hour]
    # a negative TTFR (clock skew) falls in no bucket, as in SQL's `>= 0`
    assert histogram(ordered) == [2, 1, 1, 1, 2]
    assert histogram([]) == [0, 0, 0, 0, 0]


def test_since_and_until_accept_durations_and_local_dates() -> None:
    tz = ZoneInfo("Europe/Amsterdam")
    assert parse_since("7d", NOW, tz) == NOW - timedelta(days=7)
    assert parse_since("2026-11-16", NOW, tz) == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
    # an until date is inclusive: the report runs to the end of that local day
    assert parse_until("2026-11-22", NOW, tz) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert parse_until(None, NOW, tz) == NOW
    with pytest.raises(ValueError, match="neither a duration"):
        parse_since("last week", NOW, tz)


def test_total_percentiles_from_sorted_runs_match_one_merged_sort() -> None:
    # runs of three groups: merged 600 1800 3600 3600 3600 7200 90000
    runs = [[600.0, 1800.0, 7200.0], [3600.0, 3600.0, 3600.0, 90000.0], []]
    merged = Durations.of(sorted(v for run in runs for v in run))
    assert astuple(Durations.of_runs(runs)) == pytest.approx(astuple(merged))
    assert Durations.of_runs(runs).p90 == pytest.approx(7200 + (90000 - 7200) * 0.4)
    assert Durations.of_runs([[], []]) == Durations()


def test_one_pass_gives_every_grouping_and_the_same_total(engine: Engine) -> None:
    load(engine)
    grouped, total = aggregate_many(engine, WINDOW, ["platform", "language", "week"])
    assert {g.group: g.mentions for g in grouped["language"]} == {
        "en": 9,
        "nl": 2,
        "unknown": 6,  # 5 undetermined ("und") and 1 never detected: one group
    }
    assert [w.mentions for w in grouped["week"]] == [8, 9]
    assert grouped["platform"][0].group == "reddit" and grouped["platform"][
        0
    ].ttfr.p90 == pytest.approx(6120)
    assert total.mentions == 17 and total.ttfr.median == 3600 and total.buckets == [2, 4, 0, 0, 1]


def test_sqlite_counts_every_class_from_the_covering_index_alone(tmp_path: Path) -> None:
    # the SLA counts read sla_state (backfill): it must be in ix_mention_report (0006), or
    # every mention of a year report would be read from the table as well
    engine = open_store(f"sqlite:///{tmp_path / 'plan.db'}")
    # enough mentions over a year for the planner's statistics to favour the report index
    load(engine, [mention("reddit", SINCE - timedelta(hours=3 * i)) for i in range(3000)])
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE mention")
    statements: list[str] = []
    sa.event.listen(
        engine, "before_cursor_execute", lambda *args: statements.append(args[2]), named=False
    )
    with engine.connect() as conn:
        _count_rows(conn, WINDOW)
        (sql,) = [s for s in statements if "GROUP BY" in s]
        arguments = tuple("2026-01-01" for _ in range(sql.count("?")))
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", arguments).all()
    assert any("COVERING INDEX ix_mention_report" in row[-1] for row in plan), plan
    engine.dispose()
