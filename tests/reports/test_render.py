"""Text, CSV and JSON output: stable columns, the hand-computed numbers, and the CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from monitor.reports.query import Window, build_report
from monitor.reports.render_csv_json import COLUMNS, render_csv, render_json
from monitor.reports.render_text import render_text
from monitor.store.db import open_store
from tests.reports.dataset import NOW, SINCE, UNTIL, load

WINDOW = Window(SINCE, UNTIL, NOW, ZoneInfo("UTC"))

# Spreadsheets and other tools read these by name: changing them is a breaking change.
EXPECTED_COLUMNS = [
    "period_start",
    "period_end",
    "dimension",
    "group",
    "mentions",
    "answered",
    "handled",
    "dismissed",
    "expired",
    "open",
    "open_past_sla",
    "reply_rate",
    "ttfr_median_s",
    "ttfr_p90_s",
    "ttfr_mean_s",
    "ttfr_business_median_s",
    "ttfr_business_p90_s",
    "ttfr_business_mean_s",
    "sla_met",
    "sla_rate",
    "oldest_open_at",
    "oldest_open_age_s",
    "sentiment_negative",
    "sentiment_neutral",
    "sentiment_positive",
    "sentiment_unscored",
    "ttfr_0_1h",
    "ttfr_1_4h",
    "ttfr_4_8h",
    "ttfr_8_24h",
    "ttfr_over_24h",
    "rating_count",
    "rating_mean",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "nps_responses",
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
    "nps",
    "surveys",
    "expecting_reply",
    "open_not_due",
    "open_no_clock",
    "sla_answered",
    "sla_expired",
    "sla_judged",
    "ttfr_not_exact",
]


def test_csv_has_the_documented_columns_and_one_row_per_group_and_period(
    sqlite_engine: Engine,
) -> None:
    load(sqlite_engine)
    text = render_csv(build_report(sqlite_engine, WINDOW, "week"))
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == EXPECTED_COLUMNS == list(COLUMNS)
    rows = list(reader)
    # the empty week of 11-02 is left out
    assert [(r["dimension"], r["group"]) for r in rows] == [
        ("week", "2026-11-09"),
        ("week", "2026-11-16"),
        ("all", "all"),
    ]
    week = rows[0]
    assert week["period_start"] == "2026-11-09T00:00:00+00:00"
    assert week["period_end"] == "2026-11-16T00:00:00+00:00"
    assert (week["mentions"], week["answered"], week["expecting_reply"]) == ("8", "3", "6")
    assert (week["reply_rate"], week["sla_rate"], week["open_not_due"]) == ("0.5", "0.4", "1")
    assert (week["ttfr_median_s"], week["ttfr_p90_s"]) == ("1800.0", "6120.0")
    assert rows[1]["surveys"] == "5" and rows[1]["open"] == "0"


def test_json_has_the_same_columns_and_the_weekly_series(sqlite_engine: Engine) -> None:
    load(sqlite_engine)
    data = json.loads(render_json(build_report(sqlite_engine, WINDOW, "platform", charts=True)))
    assert data["schema"] == "monitor.report/3"
    assert data["columns"] == EXPECTED_COLUMNS
    assert set(data) == {
        "schema",
        "title",
        "generated_at",
        "since",
        "until",
        "timezone",
        "by",
        "columns",
        "groups",
        "total",
        "previous",
        "weekly",
        "slowest_open",
    }
    for row in [*data["groups"], data["total"], data["previous"], *data["weekly"]]:
        assert list(row) == EXPECTED_COLUMNS
    survey = next(g for g in data["groups"] if g["group"] == "survey")
    assert survey["nps"] == 40.0 and survey["ttfr_median_s"] is None
    trustpilot = next(g for g in data["groups"] if g["group"] == "trustpilot")
    assert trustpilot["rating_mean"] == 3.75
    assert [trustpilot[f"rating_{i}"] for i in range(1, 6)] == [1, 0, 0, 1, 2]
    assert [w["group"] for w in data["weekly"]] == ["2026-11-09", "2026-11-16"]
    assert list(data["slowest_open"][0]) == [
        "id",
        "platform",
        "feed",
        "created_at",
        "age_s",
        "sentiment",
        "author",
        "url",
    ]


def test_text_report_puts_the_median_first(sqlite_engine: Engine) -> None:
    load(sqlite_engine)
    text = render_text(build_report(sqlite_engine, WINDOW, "platform"))
    header = next(line for line in text.splitlines() if line.startswith("platform  "))
    assert header.index("median") < header.index("p90") < header.index("mean")
    reddit = next(line for line in text.splitlines() if line.startswith("reddit "))
    assert reddit.split()[:9] == ["reddit", "8", "6", "3", "0", "50%", "30m", "1h", "42m"]
    assert "Net Promoter Score" in text and "+40" in text
    assert "https://reddit.example/" in text  # the slowest open mention's link


def test_report_command_writes_csv_and_rejects_a_bad_since(tmp_path: Path) -> None:
    database = tmp_path / "monitor.db"
    engine = open_store(f"sqlite:///{database}")
    load(engine)
    engine.dispose()
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{database}"\n[reports]\ntimezone = "UTC"\n')
    output = tmp_path / "report.csv"
    command = [sys.executable, "-m", "monitor", "--config", str(config), "report"]
    options = ["--since", "2026-11-02", "--until", "2026-11-22", "--by", "feed", "--format", "csv"]
    done = subprocess.run(
        [*command, *options, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    assert {r["group"] for r in rows} == {"reddit-feed", "trustpilot-feed", "survey-feed", "all"}
    assert next(r for r in rows if r["group"] == "all")["mentions"] == "17"
    bad = subprocess.run(
        [*command, "--since", "last tuesday"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "neither a duration" in bad.stderr


def test_a_json_report_over_26_years_leaves_the_empty_weeks_out(sqlite_engine: Engine) -> None:
    load(sqlite_engine)
    since = datetime(2000, 1, 1, tzinfo=UTC)
    window = Window(since, UNTIL, NOW, ZoneInfo("UTC"))
    weeks = ["2026-10-26", "2026-11-09", "2026-11-16"]
    for by in ("platform", "week"):
        text = render_json(build_report(sqlite_engine, window, by, charts=True))
        data = json.loads(text)
        # the data set's one mention before SINCE falls in the week of 10-26
        assert [w["group"] for w in data["weekly"]] == weeks
        assert len(text) < 40_000  # was 1.6 MB of empty weeks
    assert [g["group"] for g in data["groups"]] == weeks
    assert data["total"]["mentions"] == 18
