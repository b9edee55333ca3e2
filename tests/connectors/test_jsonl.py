"""The jsonl connector: survey scores and star ratings read as the csv source reads them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from connectors import FeedCursor
from connectors.http import make_client
from connectors.sources.jsonl import JSONLConnector, JSONLOptions
from monitor.config import load_config
from monitor.ingest.pipeline import Pipeline
from monitor.reports.query import Window, build_report
from monitor.store.db import open_store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def line(number: int, **fields: Any) -> str:
    created = (NOW - timedelta(hours=number)).isoformat()
    item = {"id": f"r{number}", "created_at": created, "text": f"answer {number}", **fields}
    return json.dumps(item)


def poll(tmp_path: Path, lines: list[str]) -> Any:
    (tmp_path / "survey.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    connector = JSONLConnector(
        JSONLOptions(path="survey.jsonl", platform="nps"), feed_name="nps", config_dir=tmp_path
    )
    with httpx.Client() as client:
        return connector.poll(client, FeedCursor(), NOW)


def test_a_score_is_read_and_checked_like_the_csv_column(tmp_path: Path) -> None:
    result = poll(
        tmp_path,
        [
            line(1, score=9),
            line(2, score="3"),
            line(3, score=None, rating=4),
            line(4, score=9.5),
            line(5, score=11),
            line(6, score=True),
            line(7, rating=6),
            line(8, score=0, rating="4.5"),
        ],
    )
    read = {m.external_id: (m.score, m.rating) for m in result.mentions}
    assert read == {"r1": (9, None), "r2": (3, None), "r3": (None, 4.0), "r8": (0, 4.5)}
    assert [w.split(": ", 1)[0] for w in result.warnings] == [
        "survey.jsonl line 4",
        "survey.jsonl line 5",
        "survey.jsonl line 6",
        "survey.jsonl line 7",
    ]
    assert "not a whole number from 0 to 10" in result.warnings[0]
    assert "not between 1 and 5 stars" in result.warnings[3]


def test_a_jsonl_survey_counts_in_nps_and_not_in_the_reply_rate(tmp_path: Path) -> None:
    scores = [10, 9, 9, 8, 3]
    lines = [line(i + 1, score=s) for i, s in enumerate(scores)]
    lines.append(line(9, text="where is my order?"))  # a mention without a score
    (tmp_path / "survey.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n[brand]\nname = "Acme"\n'
        '[[feeds]]\nname = "nps"\ntype = "jsonl"\npath = "survey.jsonl"\nplatform = "nps"\n',
        encoding="utf-8",
    )
    config = load_config(tmp_path / "config.toml")
    engine = open_store(config.storage.resolved_url())
    try:
        with make_client() as client:
            Pipeline(config, engine, client, clock=lambda: NOW).poll("nps", now=NOW)
        window = Window(NOW - timedelta(days=1), NOW, NOW, ZoneInfo("UTC"))
        total = build_report(engine, window, "platform").total
    finally:
        engine.dispose()
    assert (total.promoters, total.passives, total.detractors) == (3, 1, 1)
    assert total.nps == 40.0
    # survey answers expect no public reply: only the question is waiting for one
    assert (total.mentions, total.surveys, total.expecting_reply, total.open) == (6, 5, 1, 1)
