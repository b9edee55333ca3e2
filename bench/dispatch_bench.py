"""The dispatcher's own cost per alert: CPU, transactions and SQL statements, Slack left out.

    python bench/dispatch_bench.py                      # 2,000 mentions on 20 channels, SQLite
    python bench/dispatch_bench.py --postgres postgresql://postgres@127.0.0.1/postgres

A fresh store holds `--mentions` negative mentions over `--channels` channels. A share of them
(`--answered`, default a half) were alerted in an earlier round and answered since: their first
message is posted and an answered update is due, which redraws the first message and threads
under it (claim the attempt, redraw the root after the pacer's wait, record the outcome). The
others have their first alert due. `Dispatcher.run_once` delivers all of it (pace 0, four
lanes) into an in-process sink that answers every call at once, so what is timed is the
dispatcher alone: its queries, transactions, rendering and lanes. Printed: the process CPU
per alert (best of `--repeat` fresh stores), and per alert the transactions begun (`Session`
`after_begin`) and the SQL statements run (BEGIN and COMMIT included).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.base import AlertMessage, SendResult
from monitor.alerting.outbox import Dispatcher
from monitor.states import AlertKind, AlertState, MentionStatus, SentimentLabel
from monitor.store.db import normalise_url, open_store
from monitor.store.models import Alert, Mention

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


class NullSink:
    """Answers every call at once with a ts; counts what it was asked."""

    name = "null"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        self.calls["post"] += 1
        return SendResult(ok=True, ts=f"{time.monotonic():.6f}", channel=channel)

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        self.calls["update"] += 1
        return SendResult(ok=True, ts=ts, channel=channel)

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        self.calls["find_posted"] += 1
        return None


def fill(engine: Engine, mentions: int, channels: int, answered: float) -> int:
    """The mentions and their alerts (module docstring); returns how many alerts are due."""
    with Session(engine) as session:
        rows = [
            Mention(
                platform="fake",
                external_id=f"m{n}",
                feed=f"f{n % channels}",
                text=f"Terrible service, nobody answers (ticket {n})",
                author="someone",
                url=f"https://fake.example/m{n}",
                created_at=NOW - timedelta(minutes=30),
                fetched_at=NOW - timedelta(minutes=29),
                sentiment=SentimentLabel.NEGATIVE,
                polarity=-0.8,
                sentiment_source="bench",
                status=MentionStatus.OPEN,
            )
            for n in range(mentions)
        ]
        session.add_all(rows)
        session.flush()
        every = round(1 / answered) if answered else 0
        due = 0
        for n, mention in enumerate(rows):
            threaded = every and n % every == 0
            channel = f"#c{n % channels}"
            session.add(
                Alert(
                    key=f"negative:{mention.id}",
                    kind=AlertKind.NEGATIVE,
                    mention_id=mention.id,
                    feed=mention.feed,
                    channel=channel,
                    state=AlertState.SENT if threaded else AlertState.PENDING,
                    slack_ts=f"1.{n}" if threaded else None,
                    attempts=1 if threaded else 0,
                    next_attempt_at=NOW - timedelta(minutes=29),
                    created_at=NOW - timedelta(minutes=29),
                )
            )
            due += 0 if threaded else 1
            if threaded:
                mention.first_response_at = NOW - timedelta(minutes=5)
                mention.first_response_by = "AcmeSupport"
                mention.ttfr_seconds = 1500.0
                mention.status = MentionStatus.ANSWERED
        session.flush()
        for n, mention in enumerate(rows):
            if every and n % every == 0:
                session.add(
                    Alert(
                        key=f"answered_update:{mention.id}:1",
                        kind=AlertKind.ANSWERED_UPDATE,
                        mention_id=mention.id,
                        feed=mention.feed,
                        channel=f"#c{n % channels}",
                        next_attempt_at=NOW - timedelta(minutes=1),
                        created_at=NOW - timedelta(minutes=1),
                    )
                )
                due += 1
        session.commit()
    return due


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = open_store(url)
    due = fill(engine, args.mentions, args.channels, args.answered)
    statements = 0
    begins = 0

    def count_statement(*_: object) -> None:
        nonlocal statements
        statements += 1

    def count_begin(*_: object) -> None:
        nonlocal begins
        begins += 1

    event.listen(engine, "before_cursor_execute", count_statement)
    event.listen(Session, "after_begin", count_begin)
    sink = NullSink()
    dispatcher = Dispatcher(engine, sink, pace=0, clock=lambda: NOW, batch=due + 10)
    cpu, wall = time.process_time(), time.perf_counter()
    report = dispatcher.run_once(NOW)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    event.remove(Session, "after_begin", count_begin)
    event.remove(engine, "before_cursor_execute", count_statement)
    with Session(engine) as session:
        sent = session.exec(
            select(func.count()).select_from(Alert).where(col(Alert.state) == AlertState.SENT)
        ).one()
    engine.dispose()
    assert report.sent == due and sent == args.mentions + due - round(args.mentions * args.answered)
    return {
        "due": due,
        "cpu_ms": cpu * 1000 / due,
        "wall_ms": wall * 1000 / due,
        "transactions": begins / due,
        "statements": statements / due,
        "calls": dict(sink.calls),
    }


@contextmanager
def temporary_postgres(base: str) -> Iterator[str]:
    admin = sa.create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    name = f"dispatch_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(normalise_url(base)).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mentions", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--answered", type=float, default=0.5, help="share with an update")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="a server URL; each run makes its own database")
    args = parser.parse_args()
    results = []
    for _ in range(args.repeat):
        if args.postgres:
            with temporary_postgres(args.postgres) as url:
                results.append(run(url, args))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                results.append(run(f"sqlite:///{Path(tmp) / 'bench.db'}", args))
    best = min(results, key=lambda r: r["cpu_ms"])
    every = ", ".join(f"{r['cpu_ms']:.2f}" for r in results)
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{store}: {best['due']} alerts due ({args.mentions} mentions, {args.channels} channels, "
        f"{args.answered:.0%} with an answered update), sink calls {best['calls']}"
    )
    print(
        f"  per alert: CPU {best['cpu_ms']:.2f} ms (best of {args.repeat}: {every}), "
        f"wall {best['wall_ms']:.2f} ms, {best['transactions']:.2f} transactions, "
        f"{best['statements']:.2f} SQL statements"
    )


if __name__ == "__main__":
    main()
