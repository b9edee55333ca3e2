"""When a worker's jobs come due: a feed's next poll, the poll guard, the digest's minute."""

from __future__ import annotations

import threading
import tomllib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from monitor.alerting.sweeper import Sweeper
from monitor.cluster.jobs import conninfo, delivery_cron
from monitor.cluster.planner import Polled, next_poll, polled_recently
from monitor.cluster.runtime import Runtime, digest_due
from monitor.config import Config, parse_config
from monitor.reports import digest
from monitor.reports.digest import digest_key

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # a Monday


def config(**digest: object) -> Config:
    settings = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in digest.items())
    return parse_config(
        tomllib.loads(
            '[reports]\ntimezone = "Europe/Berlin"\n[reports.digest]\nenabled = true\n'
            + settings
            + '[[feeds]]\nname = "news"\ntype = "rss"\nurl = "https://example.com/feed"\n'
            'interval = "300s"\n'
        )
    )


def test_a_feed_never_polled_is_due_now_and_a_polled_one_an_interval_later() -> None:
    feed = config().feed("news")
    assert next_poll(feed, None, NOW, 0.0) == NOW
    seen = Polled(last_poll_at=NOW - timedelta(seconds=100), next_poll_after=None)
    assert next_poll(feed, seen, NOW, 0.0) == NOW + timedelta(seconds=200)


def test_a_backoff_or_rate_limit_wait_pushes_the_next_poll_never_pulls_it() -> None:
    feed = config().feed("news")
    last = NOW - timedelta(seconds=100)
    later = Polled(last_poll_at=last, next_poll_after=NOW + timedelta(hours=1))
    assert next_poll(feed, later, NOW, 0.0) == NOW + timedelta(hours=1)
    stale = Polled(last_poll_at=last, next_poll_after=NOW - timedelta(hours=1))
    assert next_poll(feed, stale, NOW, 0.0) == NOW + timedelta(seconds=200)


def test_jitter_only_delays_and_by_at_most_its_bound() -> None:
    feed = config().feed("news")
    dues = [next_poll(feed, None, NOW, 10.0) for _ in range(200)]
    assert min(dues) >= NOW and max(dues) <= NOW + timedelta(seconds=10)
    assert len(set(dues)) > 100


@pytest.mark.parametrize(
    ("ago", "recent"), [(None, False), (10, True), (149, True), (150, False), (400, False)]
)
def test_the_guard_skips_a_feed_polled_less_than_half_an_interval_ago(
    ago: int | None, recent: bool
) -> None:
    feed = config().feed("news")
    seen = None if ago is None else Polled(NOW - timedelta(seconds=ago), None)
    assert polled_recently(feed, seen, NOW) is recent


def test_the_digest_is_due_from_its_minute_in_the_report_zone_for_an_hour() -> None:
    cfg = config(day_of_week="mon", hour=9, minute=0)
    # 09:00 in Berlin on Monday 7 December is 08:00 UTC (winter time)
    ticks = [NOW + timedelta(minutes=m) for m in range(-90, 90)]
    due = [t for t in ticks if digest_due(cfg, t)]
    assert due[0] == NOW and due[-1] == NOW + timedelta(minutes=59) and len(due) == 60
    # summer time: 09:00 in Berlin is 07:00 UTC
    summer = datetime(2026, 7, 6, 7, 0, tzinfo=UTC)
    summer_ticks = [summer + timedelta(minutes=m) for m in range(-90, 90)]
    assert next(t for t in summer_ticks if digest_due(cfg, t)) == summer


def test_the_digest_is_queued_once_across_many_sweeps_and_workers(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every minute's sweep within the hour asks; the first queues it, the rest find it."""
    cfg = config(day_of_week="mon", hour=9, minute=0)
    bodies: list[datetime] = []

    def body(config: Config, engine: Engine, now: datetime) -> tuple[str, str]:
        bodies.append(now)
        return digest_key(config, now), "the digest"

    monkeypatch.setattr(digest, "digest_body", body)
    runtime = Runtime(
        config=cfg,
        engine=engine,
        pipeline=None,  # type: ignore[arg-type]  # a sweep needs none of these
        dispatcher=None,  # type: ignore[arg-type]
        sweeper=Sweeper(cfg, engine),
        presence=_Proved(),  # type: ignore[arg-type]
    )
    queued = []
    for minute in range(0, 70):
        tick = NOW + timedelta(minutes=minute)
        runtime.clock = lambda tick=tick: tick  # type: ignore[misc]
        queued.append(runtime.sweep(tick))
    assert bodies == [NOW]  # built once: the later sweeps see the key queued
    with engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT key FROM alert WHERE kind = 'digest'").scalars()
        assert list(keys) == [digest_key(cfg, NOW)]


class _Proved:
    """A presence that always holds (the sweep asks before acting)."""

    proof_window = 5.0
    lost = threading.Event()

    def holds(self) -> bool:
        return True


def test_delivery_tick_and_conninfo() -> None:
    assert delivery_cron(1) == "* * * * * */1"
    assert delivery_cron(5) == "* * * * * */5"
    assert delivery_cron(300) == "* * * * *"
    assert conninfo("postgresql+psycopg://u:p@h:5/db?sslmode=require") == (
        "postgresql://u:p@h:5/db?sslmode=require"
    )
