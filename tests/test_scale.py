"""The changes the benchmarks (bench/) required: batch scoring, bulk inserts, backfill, fan-out."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors.base import FeedCursor, MentionRecord, PollResult
from connectors.http import make_client
from monitor.alerting.outbox import Dispatcher
from monitor.cli import cli
from monitor.config import parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.scheduler import Service
from monitor.sentiment.analyzer import SentimentAnalyzer
from monitor.sentiment.language import LanguageDetector
from monitor.store.db import session
from monitor.store.models import Alert, FeedState, Mention
from tests.support import fake_connector
from tests.support.http_server import Reply, local_server

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LABELLED = Path(__file__).parent.parent / "tools" / "data" / "labelled_mentions.jsonl"


# the fake connector registered, its queue empty (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("fake_registered")


def labelled() -> list[dict[str, object]]:
    lines = LABELLED.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_analyse_many_gives_what_analyse_gives_one_by_one_in_order() -> None:
    analyzer = SentimentAnalyzer()
    rows = labelled()
    # every other row with the platform's language, some with stars, as pages arrive
    requests = [
        (str(r["text"]), str(r["language"]) if i % 2 else None, 1.0 if i % 7 == 0 else None)
        for i, r in enumerate(rows)
    ]
    one_by_one = [analyzer.analyse(t, language=lang, rating=s) for t, lang, s in requests]
    assert analyzer.analyse_many(requests) == one_by_one
    assert analyzer.analyse_many([]) == []


def test_detect_many_in_parallel_matches_detect_one_by_one() -> None:
    detector = LanguageDetector(["en", "nl", "de", "es", "et", "af", "fr"])
    texts = [str(r["text"]) for r in labelled()] + ["ok", "", "🙂🙂"]
    assert len(texts) > 8  # big enough for lingua's thread pool
    assert detector.detect_many(texts) == [detector.detect(t) for t in texts]


def config(**scheduler: object) -> object:
    return parse_config(
        {
            "alerts": {"on": ["negative", "unscored"]},
            "routes": [{"name": "nl", "channel": "#nl", "languages": ["nl"]}],
            "scheduler": scheduler,
            "feeds": [{"name": "f1", "type": "fake", "interval": 60, "channel": "#support"}],
        }
    )


def record(eid: str, text: str, **kw: object) -> MentionRecord:
    return MentionRecord(
        platform="fake",
        external_id=eid,
        created_at=NOW - timedelta(minutes=5),
        text=text,
        **kw,  # type: ignore[arg-type]
    )


def test_a_page_is_stored_in_one_bulk_insert_in_arrival_order(engine: Engine) -> None:
    """Rows with and without optional fields go in one INSERT; ids, SLA clocks and alerts
    come back in the order the platform gave the mentions."""
    page = [
        record("m3", "Terrible service, still no refund.", title="Refund?", url="https://x/3"),
        record("m1", "Love the new app, great work!", author="ann"),
        record("m2", "De bezorging is echt super slecht, nooit meer.", language="nl", rating=1),
        record("m0", "Where is my order", author_id="u0"),
    ]
    fake_connector.QUEUE["f1"].append(PollResult(mentions=page, state=FeedCursor(cursor="4")))
    report = Pipeline(config(), engine, httpx.Client()).poll("f1", now=NOW)  # type: ignore[arg-type]
    assert [m.external_id for m in report.new_mentions] == ["m3", "m1", "m2", "m0"]
    assert all(m.id for m in report.new_mentions)
    assert [a.mention_id for a in report.alerts] == [
        m.id for m in report.new_mentions if m.sentiment in ("negative", "unscored")
    ]
    with session(engine) as s:
        stored = {m.external_id: m for m in s.exec(select(Mention))}
        alerts = list(s.exec(select(Alert).order_by(Alert.id)))  # type: ignore[arg-type]
        state = s.get(FeedState, "f1")
    assert stored["m3"].title == "Refund?" and stored["m3"].url == "https://x/3"
    assert stored["m3"].sentiment == "negative" and stored["m3"].status == "open"
    assert stored["m2"].rating == 1 and stored["m2"].language == "nl"
    assert stored["m1"].author == "ann" and stored["m0"].author_id == "u0"
    assert all(m.sla_due_at is not None and m.sla_state == "on_track" for m in stored.values())
    assert [a.key for a in alerts] == [a.key for a in report.alerts]
    assert next(a for a in alerts if a.mention_id == stored["m2"].id).channel == "#nl"
    assert state is not None and state.cursor == "4" and state.items_seen == 4


def test_backfill_polls_until_nothing_new_and_reports_each_page(sqlite_engine: Engine) -> None:
    queue = fake_connector.QUEUE["f1"]
    queue.append(PollResult(mentions=[record("a", "one"), record("b", "two")]))
    queue.append(PollResult(mentions=[record("c", "three")], state=FeedCursor(cursor="3")))
    queue.append(PollResult(mentions=[record("c", "three")], state=FeedCursor(cursor="3")))
    queue.append(PollResult(mentions=[record("d", "never fetched")]))
    pipeline = Pipeline(config(), sqlite_engine, httpx.Client())  # type: ignore[arg-type]
    reports = list(pipeline.backfill("f1"))
    assert [len(r.new_mentions) for r in reports] == [2, 1, 0]
    assert len(queue) == 1, "the poll that brought nothing new was the last"
    with session(sqlite_engine) as s:
        assert s.get(FeedState, "f1").cursor == "3"  # type: ignore[union-attr]


def test_backfill_cli_draws_a_bar_and_prints_totals(tmp_path: Path) -> None:
    lines = [
        {"id": f"n{i}", "created_at": "2020-01-01T00:00:00Z", "text": f"old complaint {i}"}
        for i in range(30)
    ]
    (tmp_path / "history.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (tmp_path / "config.toml").write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "m.db"}"\n\n'
        '[[feeds]]\nname = "history"\ntype = "jsonl"\npath = "history.jsonl"\n'
    )
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "config.toml"), "backfill", "history"]
    )
    assert result.exit_code == 0, result.output
    assert "backfill history" in result.output
    assert "history: 2 polls, 30 fetched, 30 new, 0 alerts" in result.output


def test_first_polls_are_staggered_per_host_not_globally(sqlite_engine: Engine) -> None:
    feeds = [
        {"name": f"a{i}", "type": "rss", "url": f"http://a.example/{i}", "interval": 60}
        for i in range(6)
    ] + [{"name": "b0", "type": "rss", "url": "http://b.example/0", "interval": 60}]
    cfg = parse_config({"scheduler": {"per_host": 2}, "feeds": feeds})
    pipeline = Pipeline(cfg, sqlite_engine, httpx.Client())
    service = Service(cfg, pipeline, Dispatcher(sqlite_engine, sink=None))  # type: ignore[arg-type]
    service.scheduler.start = lambda *a, **k: None
    service.heartbeat.start = lambda: None  # type: ignore[method-assign]
    service.start()
    starts = {
        job.id.split(":", 1)[1]: job.kwargs.get("next_run_time") or job.next_run_time
        for job in service.scheduler.get_jobs()
        if job.id.startswith("feed:")
    }
    base = starts["a0"]
    offsets = {name: round((when - base).total_seconds(), 1) for name, when in starts.items()}
    # two at a time on host a, 0.2 s apart; host b starts at once
    assert offsets == {"a0": 0, "a1": 0, "a2": 0.2, "a3": 0.2, "a4": 0.4, "a5": 0.4, "b0": 0}


def test_the_http_client_never_caps_the_configured_concurrency() -> None:
    with local_server() as server, make_client() as client:
        server.route("/feed", Reply(200, b"ok"))
        assert client.get(f"{server.url}/feed").status_code == 200
        [pool] = client._transport._pools.values()  # type: ignore[attr-defined]
        assert pool.transport._pool._max_connections >= 64  # the largest concurrency
        assert pool.transport._pool._max_keepalive_connections >= 64


def test_sqlite_writers_take_turns_in_process_and_none_is_refused(sqlite_engine: Engine) -> None:
    """32 polls storing at once: queued on the pipeline's lock, not on SQLite's busy sleep."""
    cfg = parse_config(
        {
            "feeds": [
                {"name": f"f{i}", "type": "fake", "interval": 60, "channel": "#s"}
                for i in range(32)
            ]
        }
    )
    for i in range(32):
        fake_connector.QUEUE[f"f{i}"].append(
            PollResult(mentions=[record(f"x{i}-{j}", f"text {j}") for j in range(20)])
        )
    pipeline = Pipeline(cfg, sqlite_engine, httpx.Client())
    assert pipeline.db_turn() is pipeline.db_turn()  # one lock per pipeline on SQLite
    reports: list[object] = []
    threads = [
        threading.Thread(target=lambda n=i: reports.append(pipeline.poll(f"f{n}", now=NOW)))
        for i in range(32)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(reports) == 32 and all(r.ok for r in reports)  # type: ignore[attr-defined]
    with session(sqlite_engine) as s:
        assert len(list(s.exec(select(Mention.id)))) == 32 * 20
