"""Spike alerts: far above the feed's own hourly baseline, once per spike, with its words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.alerting.sweeper import Sweeper
from monitor.config import parse_config
from monitor.store.db import session
from monitor.store.models import Alert, Mention

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = parse_config(
    {
        "alerts": {"spike_min_count": 5, "spike_baseline_days": 14},
        "feeds": [{"name": "f1", "type": "jsonl", "path": "x.jsonl"}],
    }
)


def add(
    engine: Engine,
    minutes_ago: float,
    text: str,
    sentiment: str = "neutral",
    fetched_minutes_ago: float | None = None,
) -> None:
    """A mention polled as it appeared (or, with `fetched_minutes_ago`, found later)."""
    created = NOW - timedelta(minutes=minutes_ago)
    with session(engine) as s:
        n = s.exec(select(Mention.id)).all()
        s.add(
            Mention(
                platform="import",
                feed="f1",
                external_id=f"m{len(n)}",
                text=text,
                created_at=created,
                fetched_at=created
                if fetched_minutes_ago is None
                else NOW - timedelta(minutes=fetched_minutes_ago),
                sentiment=sentiment,
                status="answered",
            )
        )
        s.commit()


def spikes(engine: Engine) -> list[Alert]:
    with session(engine) as s:
        return list(s.exec(select(Alert).where(Alert.kind == "spike")))


def test_a_burst_far_above_baseline_raises_one_spike_naming_volume_and_negatives(
    engine: Engine,
) -> None:
    for day in range(1, 14):  # a quiet baseline: two mentions a day
        add(engine, day * 1440 + 30, "A question about invoices")
        add(engine, day * 1440 + 300, "Thanks for the help")
    add(engine, 14 * 1440 + 30, "the first mention we fetched, fourteen days ago")
    for minute in range(12):
        add(engine, minute * 4, "Checkout outage again, payment failed", sentiment="negative")
    sweeper = Sweeper(CONFIG, engine)
    sweeper.run_once(NOW)
    [found] = spikes(engine)
    body = found.body or ""
    headline = body.splitlines()[0]
    assert headline == ("Spike on f1: 12 mentions and 12 negative mentions in the last hour"), body
    assert "over the last 14 days" in body
    assert "outage" in body and "checkout" in body
    Sweeper(CONFIG, engine).run_once(NOW + timedelta(minutes=30))
    assert len(spikes(engine)) == 1, "one alert per spike, not one per sweep"


def test_a_feed_added_minutes_ago_has_no_baseline_even_with_old_posts(engine: Engine) -> None:
    # its first poll, 7 minutes ago, brought two weeks of old posts and a busy last hour
    for day in range(1, 15):
        add(engine, day * 1440 + 30, "A question about invoices", fetched_minutes_ago=7)
    for minute in range(12):
        add(
            engine,
            minute * 4 + 8,
            "Checkout outage again, payment failed",
            sentiment="negative",
            fetched_minutes_ago=7,
        )
    Sweeper(CONFIG, engine).run_once(NOW)
    assert spikes(engine) == []


def test_steady_traffic_is_not_a_spike(engine: Engine) -> None:
    for hour in range(1, 14 * 24, 1):
        add(engine, hour * 60 + 10, "routine question")
    for minute in range(2):
        add(engine, minute * 10, "routine question")
    Sweeper(CONFIG, engine).run_once(NOW)
    assert spikes(engine) == []


def test_a_new_feed_without_a_days_history_is_never_a_spike(engine: Engine) -> None:
    for minute in range(12):
        add(engine, minute * 4, "Checkout outage again, payment failed", sentiment="negative")
    add(engine, 20 * 60, "first mention, twenty hours ago")
    Sweeper(CONFIG, engine).run_once(NOW)
    assert spikes(engine) == []
