"""When a worker's jobs come due: a feed's next poll, the poll guard, the digest's minute."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from monitor.cluster.jobs import conninfo, delivery_cron
from monitor.cluster.planner import Polled, next_poll, polled_recently
from monitor.cluster.runtime import digest_due
from monitor.config import Config, parse_config

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


def test_the_digest_fires_in_exactly_one_minute_tick_in_the_report_zone() -> None:
    cfg = config(day_of_week="mon", hour=9, minute=0)
    # 09:00 in Berlin on Monday 7 December is 08:00 UTC (winter time)
    ticks = [NOW + timedelta(minutes=m) for m in range(-90, 90)]
    assert [t for t in ticks if digest_due(cfg, t)] == [NOW]
    # summer time: 09:00 in Berlin is 07:00 UTC
    summer = datetime(2026, 7, 6, 7, 0, tzinfo=UTC)
    summer_ticks = [summer + timedelta(minutes=m) for m in range(-90, 90)]
    assert [t for t in summer_ticks if digest_due(cfg, t)] == [summer]


def test_a_tick_between_whole_minutes_still_catches_the_digest_once() -> None:
    # periodic ticks carry whole-second timestamps; a late one still covers its minute
    cfg = config(day_of_week="mon", hour=9, minute=0)
    ticks = [NOW + timedelta(seconds=s) for s in range(-300, 300, 60)]
    shifted = [t + timedelta(seconds=7) for t in ticks]
    assert len([t for t in shifted if digest_due(cfg, t)]) == 1


def test_delivery_tick_and_conninfo() -> None:
    assert delivery_cron(1) == "* * * * * */1"
    assert delivery_cron(5) == "* * * * * */5"
    assert delivery_cron(300) == "* * * * *"
    assert conninfo("postgresql+psycopg://u:p@h:5/db?sslmode=require") == (
        "postgresql://u:p@h:5/db?sslmode=require"
    )
