"""The crash loop: `monitor run` killed with SIGKILL at random moments while Slack fails in
every way it can, then one clean run; counts what Slack shows (tests and bench/crash_loop.py)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from alerts.slack import call_deadline
from monitor.alerting.messages import THREAD_KINDS
from monitor.leadership.presence import shortest_stalled_after
from monitor.store.db import normalise_url, open_store
from monitor.store.models import Alert, Mention
from tests.support.fake_slack import FakeSlack, Posted, fake_slack
from tests.support.http_server import DROP, Reply, Request

WRITES = ("/api/chat.postMessage", "/api/chat.update")
LOOKUPS = ("/api/conversations.history", "/api/conversations.replies")

SLACK_TIMEOUT = 2.0  # seconds: short, so a dripped answer ends soon
# the shortest a worker may be silent before its jobs are taken over, with that Slack timeout
STALLED_AFTER = shortest_stalled_after(call_deadline(SLACK_TIMEOUT))


@dataclass
class Outcome:
    kills: int
    mentions: int  # appended to the feeds
    stored: int  # mentions in the store at the end
    expected: int  # first messages and thread replies the outbox decided on
    delivered: int  # of those, shown in Slack
    duplicates: int  # top-level and thread replies
    replies: int  # thread replies shown
    reply_duplicates: int
    unsent: int  # outbox rows not sent at the end
    slack_calls: int
    failed_calls: int
    out_of_order: list[str] = field(default_factory=list)
    pace_gaps: dict[str, tuple[float, float]] = field(default_factory=dict)  # median, min

    @property
    def lost(self) -> int:
        return self.expected - self.delivered + self.mentions - self.stored

    def line(self) -> str:
        return (
            f"{self.kills} SIGKILLs, {self.failed_calls} of {self.slack_calls} Slack calls failed;"
            f" {self.mentions} mentions, {self.stored} stored; {self.expected} alerts decided"
            f" (first messages and thread replies): {self.delivered} delivered, {self.lost} lost;"
            f" {self.duplicates} first messages duplicated; {self.replies} thread replies,"
            f" {self.reply_duplicates} duplicated; {self.unsent} outbox rows unsent;"
            f" out of order: {self.out_of_order or 'none'}"
        )


class Flapping:
    """Wraps the fake Slack's routes: while on, a share of calls fail, each in a way seen live
    (500, 429 with Retry-After, `ratelimited` in a 200, a reset before or AFTER Slack accepted
    the call, a slow answer, an answer dripped byte by byte)."""

    def __init__(self, slack: FakeSlack, rng: random.Random, rate: float = 0.4) -> None:
        self.on = threading.Event()
        self.on.set()
        self.rng = rng
        self.rate = rate
        self.calls = 0
        self.failed = 0
        self._lock = threading.Lock()
        for path in WRITES + LOOKUPS:
            slack.server.route(path, self._wrap(slack.server.routes[path], path in WRITES))

    def _wrap(
        self, original: Callable[[Request], Reply], write: bool
    ) -> Callable[[Request], Reply]:
        def flaky(request: Request) -> Reply:
            with self._lock:
                self.calls += 1
                roll = self.rng.random() / self.rate if self.on.is_set() else 1.0
                self.failed += roll < 1.0
            if roll < 0.25:
                return Reply(500, b"oops")
            if roll < 0.40:
                return Reply.json(
                    {"ok": False, "error": "ratelimited"}, 429, **{"Retry-After": "1"}
                )
            if roll < 0.50:
                return Reply(DROP)  # reset before Slack did anything
            if roll < 0.58:
                return Reply.json({"ok": False, "error": "ratelimited"})
            real = original(request)  # Slack does the work; then the answer goes wrong
            if roll < 0.80:
                return Reply(real.status, real.body, real.headers, reset_after=True)
            if roll < 0.85:
                return Reply(real.status, real.body, real.headers, drip=0.5)
            if roll < 1.0:
                time.sleep(0.5 if write else 1.5)
            return real

        return flaky


def append_mentions(folder: Path, feed: str, cycle: int, count: int) -> list[str]:
    """`count` new mentions, and brand replies to half of the previous cycle's (answered
    notes thread under their first message)."""
    now = datetime.now(UTC)
    ids = [f"{feed}-{cycle}-{n}" for n in range(count)]
    with (folder / f"{feed}.jsonl").open("a", encoding="utf-8") as out:
        for n, ident in enumerate(ids):
            line = {
                "id": ident,
                "created_at": (now - timedelta(minutes=5)).isoformat(),
                "text": f"Cycle {cycle}: the service is down again, number {n}",
            }
            out.write(json.dumps(line) + "\n")
        for n in range(0, count, 2) if cycle else ():
            reply = {
                "kind": "reply",
                "id": f"r-{feed}-{cycle - 1}-{n}",
                "in_reply_to": f"{feed}-{cycle - 1}-{n}",
                "created_at": (now - timedelta(minutes=1)).isoformat(),
                "author": "acme",
                "text": "Sorry about that, fixed now.",
            }
            out.write(json.dumps(reply) + "\n")
    return ids


def write_config(folder: Path, store_url: str, slack: FakeSlack, feeds: list[str]) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[storage]\nurl = "{store_url}"\n'
        f'[slack]\napi_url = "{slack.api_url}"\ntimeout = "{SLACK_TIMEOUT:g}s"\n'
        '[alerts]\non = ["all"]\ndispatch_interval = "1s"\n[scheduler]\njitter = 0\n'
        # workers (PostgreSQL): a killed worker's jobs are taken over as soon as allowed
        f'[workers]\nstalled_after = "{STALLED_AFTER:g}s"\n'
        + "".join(
            f'[[feeds]]\nname = "{f}"\ntype = "jsonl"\npath = "{f}.jsonl"\n'
            f'channel = "#{f}"\ninterval = "30s"\n'
            for f in feeds
        ),
        encoding="utf-8",
    )
    return config


def run_crash_loop(
    folder: Path,
    store_url: str,
    *,
    kills: int,
    alerts: int,
    feeds: int = 3,
    seed: int = 20261204,
    drain_timeout: float = 600.0,
    calm_after: float = 60.0,
    kill_after: tuple[float, float] = (1.5, 6.0),
    say: Callable[[str], None] = lambda _line: None,
) -> Outcome:
    """`kills` runs killed at random moments, each after new mentions were appended (about
    `alerts` in all), then a clean run until the outbox is empty; what Slack shows, counted."""
    rng = random.Random(seed)
    names = [f"feed{n}" for n in range(feeds)]
    per_cycle = max(1, math.ceil(alerts / kills / feeds))
    with fake_slack() as slack:
        flapping = Flapping(slack, rng)
        config = write_config(folder, store_url, slack, names)
        for name in names:
            (folder / f"{name}.jsonl").write_text("")
        env = {**os.environ, "SLACK_BOT_TOKEN": slack.token}
        log = folder / "run.log"

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )

        # On PostgreSQL `run` is a worker: the jobs the killed one held (its delivery above
        # all) are taken over once its heartbeat is `stalled_after` old and the reaper runs
        # (every 5 s): the kill window opens when the new worker can deliver.
        grace = STALLED_AFTER + 6.0 if store_url.startswith("postgresql") else 0.0
        expected: list[str] = []
        for cycle in range(kills):
            for name in names:
                expected += append_mentions(folder, name, cycle, per_cycle)
            process = start()
            time.sleep(grace + rng.uniform(kill_after[0], kill_after[1]))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            say(f"kill {cycle + 1}/{kills}: {len(slack.messages)} messages in Slack so far")
        # One last run, not killed: Slack keeps failing until the outbox is empty (or for
        # `calm_after` seconds at most, then recovers), and the run must deliver the rest.
        engine = open_store(store_url)
        process = start()
        try:
            started = time.monotonic()
            while time.monotonic() < started + drain_timeout:
                if time.monotonic() > started + calm_after:
                    flapping.on.clear()
                first, _replies, stored = _decided(engine)
                done = stored >= len(expected) and _unsent(engine) == 0
                if done and first <= set(slack.keys()):
                    break
                time.sleep(1)
            time.sleep(3)  # anything still to come (a duplicate) arrives now
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        outcome = _count(slack, engine, names, kills, len(expected), flapping)
        engine.dispose()
        return outcome


def _unsent(engine: sa.Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(Alert.id).where(Alert.state != "sent")).all())


def _decided(engine: sa.Engine) -> tuple[set[str], set[str], int]:
    """The keys of first messages and of thread replies sent, and the mentions stored."""
    with Session(engine) as session:
        rows = session.exec(select(Alert.key, Alert.kind, Alert.thread_ts)).all()
        stored = len(session.exec(select(Mention.id)).all())
    first = {key for key, kind, _ in rows if kind not in THREAD_KINDS}
    threaded = {key for key, kind, thread_ts in rows if kind in THREAD_KINDS and thread_ts}
    return first, threaded, stored


def _count(
    slack: FakeSlack, engine: sa.Engine, names: list[str], kills: int, mentions: int, flap: Flapping
) -> Outcome:
    """A mention answered before it was first stored (a killed poll read again with its
    reply) is not alerted, by design; so what must show is what the outbox decided."""
    counts = Counter(slack.keys())
    replies = Counter(slack.reply_keys())
    first, threaded, stored = _decided(engine)
    outcome = Outcome(
        kills=kills,
        mentions=mentions,
        stored=stored,
        expected=len(first) + len(threaded),
        delivered=len(first & set(counts)) + len(threaded & set(replies)),
        duplicates=sum(n - 1 for n in counts.values() if n > 1),
        replies=len(replies),
        reply_duplicates=sum(n - 1 for n in replies.values() if n > 1),
        unsent=_unsent(engine),
        slack_calls=flap.calls,
        failed_calls=flap.failed,
    )
    for name in names:
        channel = f"#{name}"
        top = [m for m in slack.messages if m.channel == channel and m.thread_ts is None]
        order = [n for n in map(_mention_id, top) if n is not None]
        if order != sorted(order):
            outcome.out_of_order.append(channel)
        posts = [m for m in slack.messages if m.channel == channel]
        gaps = [b.at - a.at for a, b in pairwise(posts)]
        if gaps:
            outcome.pace_gaps[channel] = (statistics.median(gaps), min(gaps))
    return outcome


def _mention_id(message: Posted) -> int | None:
    """The mention id in a first message's key (`negative:12`); None for other messages."""
    part = str((message.metadata or {}).get("event_payload", {}).get("alert_key")).split(":")
    return int(part[1]) if len(part) == 2 and part[1].isdigit() else None


@contextmanager
def fresh_postgres(base_url: str) -> Iterator[str]:
    """A new, empty database on the server at `base_url`, dropped afterwards; its URL."""
    admin = sa.create_engine(normalise_url(base_url), isolation_level="AUTOCOMMIT")
    name = f"monitor_crash_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield (
            sa.engine.make_url(normalise_url(base_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
