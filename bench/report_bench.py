"""Build a database of N synthetic mentions and time the reports on SQLite and PostgreSQL.

    python bench/report_bench.py                       # 1,000,000 mentions on SQLite
    python bench/report_bench.py --postgres postgresql://postgres@127.0.0.1/postgres
    python bench/report_bench.py --rows 100000 --keep /tmp/bench.db
    python bench/report_bench.py --keep /tmp/bench.db --reuse   # time again, no refill
    python bench/report_bench.py --no-sqlite --postgres URL --keep-postgres monitor_bench_1m
    python bench/report_bench.py --no-sqlite --postgres URL --keep-postgres monitor_bench_1m --reuse

The mentions arrive in time order (as a poller stores them), spread over `--days` days
(default 365) across 8 platforms and 16 feeds, with statuses, TTFRs, sentiments, languages,
ratings and survey scores in realistic shares. Each report is timed as the CLI runs it: the
SQL aggregation plus rendering, best of `--repeat`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.reports.query import Window, build_report
from monitor.reports.render_text import render_text
from monitor.store.db import normalise_url, open_store
from monitor.store.models import Mention

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PLATFORMS = (
    "reddit",
    "mastodon",
    "bluesky",
    "github",
    "trustpilot",
    "googleplay",
    "appstore",
    "survey",
)
REVIEWS = {"trustpilot", "googleplay", "appstore"}
LANGUAGES = ("en",) * 6 + ("nl", "de", "es", "et", "af", None)
SENTIMENTS = ("negative",) * 2 + ("neutral",) * 3 + ("positive",) * 3 + ("unscored",)
STATUSES = ("answered",) * 70 + ("open",) * 10 + ("expired",) * 10 + ("handled", "dismissed") * 5


def rows(count: int, days: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    span = days * 86400
    for index in range(count):
        platform = PLATFORMS[index % len(PLATFORMS)]
        # mentions are stored roughly as they arrive: oldest first, with backfill jitter
        offset = span * (1 - (index + rng.random() * 50) / (count + 50))
        created = NOW - timedelta(seconds=offset)
        status = rng.choice(STATUSES)
        ttfr = business = None
        met = None
        if status == "answered":
            ttfr = min(rng.lognormvariate(8.5, 1.4), 30 * 86400)
            business = ttfr * rng.uniform(0.3, 1.0)
            met = business <= 4 * 3600
        yield {
            "platform": platform,
            "feed": f"{platform}-{index % 2}",
            "external_id": str(index),
            "url": f"https://{platform}.example/m/{index}",
            "author": f"user{index % 5000}",
            "text": "synthetic mention",
            "language": rng.choice(LANGUAGES),
            "rating": float(rng.randint(1, 5)) if platform in REVIEWS else None,
            "score": rng.randint(0, 10) if platform == "survey" else None,
            "created_at": created,
            "created_is_modified": False,
            "fetched_at": created,
            "sentiment": rng.choice(SENTIMENTS),
            "first_response_at": created + timedelta(seconds=ttfr) if ttfr else None,
            "ttfr_seconds": ttfr,
            "ttfr_business_seconds": business,
            "sla_due_at": created + timedelta(hours=4),
            "sla_state": "on_track",
            "sla_met": met,
            "status": status,
            "edited_after_reply": False,
        }


def fill(engine: Engine, count: int, days: int, chunk: int = 20_000) -> float:
    started = time.perf_counter()
    table = Mention.__table__  # type: ignore[attr-defined]
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in rows(count, days):
            batch.append(row)
            if len(batch) == chunk:
                conn.execute(sa.insert(table), batch)
                batch = []
        if batch:
            conn.execute(sa.insert(table), batch)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def timed(action: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def bench(engine: Engine, label: str, args: argparse.Namespace) -> None:
    tz = ZoneInfo("UTC")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(Mention)).scalar_one()
    if args.reuse and stored:
        print(f"== {label}: reusing {stored:,} stored mentions", flush=True)
    else:
        print(f"== {label}: filling {args.rows:,} mentions over {args.days} days", flush=True)
        print(f"   filled in {fill(engine, args.rows, args.days):.1f} s", flush=True)
    for days, by in ((7, "platform"), (30, "platform"), (30, "week"), (args.days, "platform")):
        window = Window(NOW - timedelta(days=days), NOW, NOW, tz)

        def text_report(window: Window = window, by: Any = by) -> str:
            return render_text(build_report(engine, window, by))

        seconds = timed(text_report, args.repeat)
        mentions = build_report(engine, window, by).total.mentions
        print(
            f"   text report --since {days}d --by {by}: {seconds:.2f} s ({mentions:,} mentions)",
            flush=True,
        )
    if args.html:
        from monitor.reports.render_html import render_html

        for days in (30, args.days):
            window = Window(NOW - timedelta(days=days), NOW, NOW, tz)

            def html_report(window: Window = window) -> str:
                return render_html(build_report(engine, window, "platform", charts=True))

            seconds = timed(html_report, args.repeat)
            print(f"   HTML report --since {days}d (all charts): {seconds:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="also run on this PostgreSQL server (a temporary db)")
    parser.add_argument("--keep", help="SQLite file to build and keep (default: a temp file)")
    parser.add_argument(
        "--keep-postgres",
        metavar="NAME",
        help="with --postgres: build and keep this database (default: a temporary one)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep / --keep-postgres: time the database as it is, no refill",
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--html", action="store_true", help="also time the HTML report")
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(args.keep or Path(folder) / "bench.db")
            if not args.reuse:
                path.unlink(missing_ok=True)
            engine = open_store(f"sqlite:///{path}")
            bench(engine, f"SQLite {sa.__version__} / sqlite {_sqlite_version()}", args)
            engine.dispose()
    if args.postgres:
        admin = sa.create_engine(normalise_url(args.postgres), isolation_level="AUTOCOMMIT")
        name = args.keep_postgres or f"monitor_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": name}
            ).scalar()
            if exists and not args.reuse:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            if not exists or not args.reuse:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.engine.make_url(normalise_url(args.postgres)).set(database=name)
        try:
            engine = open_store(url.render_as_string(hide_password=False))
            with engine.connect() as conn:
                version = conn.exec_driver_sql("SHOW server_version").scalar()
            bench(engine, f"PostgreSQL {version}", args)
            engine.dispose()
        finally:
            if not args.keep_postgres:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


if __name__ == "__main__":
    main()
