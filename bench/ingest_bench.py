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
pipeline analyses them), single-threaded in this process. The two alternate: the mentions
are cut into `--slices` slices, and each slice is scored by TextBlob alone and then sent
through the pipeline (one pipeline and one database for the whole run), so a change in the
machine's speed (seen here: TextBlob alone at 3,355-8,831 texts/s on one day) lands on both
sides alike. Each rate is the total count over the total seconds of its side; the spread of
the per-slice ratios is printed too. Rates are wall-clock (the product may use both cores;
the baseline is TextBlob as people call it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _corpus
from connectors.text import clean_text, html_to_text
from monitor.config import Config, parse_config
from monitor.ingest.pipeline import Pipeline
from monitor.store.db import normalise_url, open_store
from monitor.store.models import Alert, Mention

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


def textblob_seconds(texts: list[str]) -> float:
    from textblob import TextBlob

    start = time.perf_counter()
    for text in texts:
        TextBlob(text).sentiment  # noqa: B018
    return time.perf_counter() - start


@dataclass
class Run:
    """Both sides of one interleaved run: seconds spent and items done by each."""

    baseline_seconds: float = 0.0
    product_seconds: float = 0.0
    mentions: int = 0
    stored: int = 0
    alerts: int = 0
    slice_ratios: list[float] = field(default_factory=list)

    @property
    def baseline_rate(self) -> float:
        return self.mentions / self.baseline_seconds

    @property
    def product_rate(self) -> float:
        return self.mentions / self.product_seconds

    @property
    def ratio(self) -> float:
        return self.product_rate / self.baseline_rate

    def spread(self) -> str:
        ratios = sorted(self.slice_ratios)
        return f"slices {ratios[0]:.2f}-{ratios[-1]:.2f}, median {statistics.median(ratios):.2f}"


def interleaved(
    url: str,
    items: list[_corpus.RawItem],
    texts: list[str],
    args: argparse.Namespace,
    *,
    backfill: bool,
) -> Run:
    """TextBlob alone on a slice, then the pipeline on the same slice, slice after slice.

    backfill: `Pipeline.backfill`, what `monitor backfill` runs; else `Pipeline.poll` page
    after page, as the scheduler polls."""
    from textblob import TextBlob

    TextBlob("warm up").sentiment  # noqa: B018
    engine = open_store(url)
    indexed = list(enumerate(items))
    size = -(-len(items) // args.slices)
    run = Run()
    with httpx.Client() as client:
        pipeline = Pipeline(config(), engine, client, clock=lambda: NOW)
        pipeline.warm_up()  # as `monitor run` and `monitor backfill` do at start-up
        for first in range(0, len(items), size):
            part = indexed[first : first + size]
            baseline = textblob_seconds(texts[first : first + size])
            pages = [part[i : i + args.page] for i in range(0, len(part), args.page)]
            _corpus.PAGES[FEED] = pages
            start = time.perf_counter()
            done = 0
            if backfill:
                for report in pipeline.backfill(FEED, max_polls=len(pages) + 2):
                    assert report.ok, report.error
                    done += report.fetched
            else:
                while _corpus.PAGES[FEED]:
                    report = pipeline.poll(FEED, now=NOW)
                    assert report.ok, report.error
                    done += report.fetched
            product = time.perf_counter() - start
            assert done == len(part), (done, len(part))
            run.baseline_seconds += baseline
            run.product_seconds += product
            run.mentions += done
            run.slice_ratios.append(baseline / product)
    with engine.connect() as conn:
        run.stored = conn.execute(sa.select(sa.func.count()).select_from(Mention)).scalar_one()
        run.alerts = conn.execute(sa.select(sa.func.count()).select_from(Alert)).scalar_one()
    engine.dispose()
    assert run.stored == len(items) == run.mentions, (run.stored, len(items), run.mentions)
    return run


def report(label: str, run: Run) -> None:
    print(
        f"{label:<31} {run.product_rate:8,.0f} mentions/s; TextBlob alone "
        f"{run.baseline_rate:8,.0f} texts/s; ratio {run.ratio:.2f} ({run.spread()})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=500, help="mentions per poll (transaction)")
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server")
    parser.add_argument("--no-poll-loop", action="store_true", help="skip the poll-loop run")
    parser.add_argument(
        "--slices", type=int, default=10, help="alternations of baseline and product"
    )
    args = parser.parse_args(argv)
    _corpus.register()
    items = _corpus.items(args.count)
    print(f"machine: {_corpus.machine()}")
    print(f"{len(items):,} recorded-shape mentions from {len(_corpus.templates())} recordings")
    texts = analysed_texts(items)
    with tempfile.TemporaryDirectory() as tmp:
        run = interleaved(f"sqlite:///{tmp}/bench.db", items, texts, args, backfill=True)
    print(f"{args.slices} slices, TextBlob alone and the pipeline alternating on each")
    report("pipeline backfill, SQLite:", run)
    print(f"  ({run.stored:,} stored, {run.alerts:,} alerts)")
    verdict = "PASS" if run.ratio >= 0.5 else "FAIL"
    print(f"ratio backfill / TextBlob:      {run.ratio:8.2f}  (target >= 0.50) {verdict}")
    if not args.no_poll_loop:
        with tempfile.TemporaryDirectory() as tmp:
            loop = interleaved(f"sqlite:///{tmp}/bench.db", items, texts, args, backfill=False)
        report("pipeline poll loop, SQLite:", loop)
    if args.postgres:
        admin = sa.create_engine(normalise_url(args.postgres), isolation_level="AUTOCOMMIT")
        name = f"monitor_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = sa.engine.make_url(normalise_url(args.postgres)).set(database=name)
            pg = interleaved(
                url.render_as_string(hide_password=False), items, texts, args, backfill=True
            )
            report("pipeline backfill, PostgreSQL:", pg)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    return 0 if run.ratio >= 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
