"""Ingest: normalise + score + upsert + alert rules through the real pipeline vs TextBlob alone.

    python bench/ingest_bench.py                     # 100,000 mentions, SQLite
    python bench/ingest_bench.py --postgres postgresql://postgres@127.0.0.1/postgres
    python bench/ingest_bench.py --count 20000 --page 500

Judged by: pipeline rate on SQLite / TextBlob-alone rate >= 0.5.

The mentions are recorded shapes (bench/_corpus.py): Reddit comments and posts, RSS/Atom
entries, Yelp reviews with stars, short social posts in several languages (half of them
with the platform's language, half without), cycled to `--count` with unique ids.

Product: `Pipeline.poll` of a replay connector that hands out pages of `--page` raw items
and normalises their markup (`connectors.text.html_to_text`, as the real connectors do); the
pipeline scores, upserts, decides alerts over three routes and saves the cursor, one
transaction per page, into a fresh database migrated by `open_store`.

Baseline: `TextBlob(text).sentiment` over the same normalised texts (title + text, as the
pipeline analyses them), single-threaded in this process; it is timed before and after the
product run and the mean of the two is used (drift during the run hits both sides). Rates
are wall-clock (the product may use both cores; the baseline is TextBlob as people call it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _corpus
from connectors.text import clean_text, html_to_text
from monitor.config import Config, parse_config
from monitor.db import normalise_url, open_store
from monitor.models import Alert, Mention
from monitor.pipeline import Pipeline

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FEED = "bench"


def config() -> Config:
    return parse_config(
        {
            "brand": {"identities": [{"platform": "reddit", "handle": "AcmeSupport"}]},
            "alerts": {"on": ["negative", "unscored"], "max_age": "30d"},
            "routes": [
                {"name": "bad-reviews", "channel": "#reviews", "max_rating": 2},
                {"name": "reddit", "channel": "#reddit", "platforms": ["reddit"]},
                {"name": "dutch", "channel": "#nl", "languages": ["nl"]},
            ],
            "feeds": [{"name": FEED, "type": "bench-replay", "interval": 60}],
        }
    )


def analysed_texts(items: list[_corpus.RawItem]) -> list[str]:
    """What the pipeline hands the analyser: title and normalised text."""
    out = []
    for item in items:
        title = clean_text(item.title) if item.title else None
        out.append("\n".join(p for p in (title, html_to_text(item.markup)) if p))
    return out


def textblob_rate(texts: list[str]) -> float:
    from textblob import TextBlob

    TextBlob("warm up").sentiment  # noqa: B018
    start = time.perf_counter()
    for text in texts:
        TextBlob(text).sentiment  # noqa: B018
    return len(texts) / (time.perf_counter() - start)


def pipeline_rate(
    url: str, items: list[_corpus.RawItem], page: int, *, backfill: bool
) -> tuple[float, int, int]:
    """Mentions/s through the pipeline; returns (rate, mentions stored, alerts decided).

    backfill: `Pipeline.backfill`, what `monitor backfill` runs (worker processes score the
    next page while this one is stored); else `Pipeline.poll` page after page, as the
    scheduler polls (scoring in this process, language detection on all cores)."""
    engine = open_store(url)
    indexed = list(enumerate(items))
    _corpus.PAGES[FEED] = [indexed[start : start + page] for start in range(0, len(items), page)]
    with httpx.Client() as client:
        pipeline = Pipeline(config(), engine, client, clock=lambda: NOW)
        pipeline.warm_up()  # as `monitor run` and `monitor backfill` do at start-up
        start = time.perf_counter()
        total = 0
        if backfill:
            for report in pipeline.backfill(FEED, max_polls=len(items) // page + 2):
                assert report.ok, report.error
                total += report.fetched
        else:
            while _corpus.PAGES[FEED]:
                report = pipeline.poll(FEED, now=NOW)
                assert report.ok, report.error
                total += report.fetched
        elapsed = time.perf_counter() - start
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(Mention)).scalar_one()
        alerts = conn.execute(sa.select(sa.func.count()).select_from(Alert)).scalar_one()
    engine.dispose()
    assert stored == len(items) == total, (stored, len(items), total)
    return total / elapsed, stored, alerts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=500, help="mentions per poll (transaction)")
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server")
    parser.add_argument("--no-poll-loop", action="store_true", help="skip the poll-loop run")
    args = parser.parse_args(argv)
    _corpus.register()
    items = _corpus.items(args.count)
    print(f"machine: {_corpus.machine()}")
    print(f"{len(items):,} recorded-shape mentions from {len(_corpus.templates())} recordings")
    texts = analysed_texts(items)
    before = textblob_rate(texts)
    print(f"TextBlob alone, before:        {before:8,.0f} texts/s (1 process, wall clock)")
    with tempfile.TemporaryDirectory() as tmp:
        rate, stored, alerts = pipeline_rate(
            f"sqlite:///{tmp}/bench.db", items, args.page, backfill=True
        )
    print(
        f"pipeline backfill, SQLite:     {rate:8,.0f} mentions/s "
        f"({stored:,} stored, {alerts:,} alerts)"
    )
    after = textblob_rate(texts)
    print(f"TextBlob alone, after:         {after:8,.0f} texts/s")
    baseline = (before + after) / 2  # bracketing the product run: drift hits both
    ratio = rate / baseline
    verdict = "PASS" if ratio >= 0.5 else "FAIL"
    print(
        f"ratio backfill / TextBlob:     {ratio:8.2f}  (target >= 0.50, baseline = mean) {verdict}"
    )
    if not args.no_poll_loop:
        with tempfile.TemporaryDirectory() as tmp:
            loop_rate, _, _ = pipeline_rate(
                f"sqlite:///{tmp}/bench.db", items, args.page, backfill=False
            )
        print(
            f"pipeline poll loop, SQLite:    {loop_rate:8,.0f} mentions/s "
            f"(ratio {loop_rate / baseline:.2f}; the scheduler's path, one process)"
        )
    if args.postgres:
        admin = sa.create_engine(normalise_url(args.postgres), isolation_level="AUTOCOMMIT")
        name = f"monitor_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = sa.engine.make_url(normalise_url(args.postgres)).set(database=name)
            pg_rate, _, _ = pipeline_rate(
                url.render_as_string(hide_password=False), items, args.page, backfill=True
            )
            print(
                f"pipeline backfill, PostgreSQL: {pg_rate:8,.0f} mentions/s "
                f"(ratio {pg_rate / baseline:.2f})"
            )
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    return 0 if ratio >= 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
