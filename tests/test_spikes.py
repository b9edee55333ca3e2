"""Spike alerts: far above the feed's own hourly baseline, once per spike, with its words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.config import parse_config
from monitor.db import session
from monitor.models import Alert, Mention
from monitor.sweeper import Sweeper

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = parse_config(
    {
        "alerts": {"spike_min_count": 5, "spike_baseline_days": 14},
        "feeds": [{"name": "f1", "type": "jsonl", "path": "x.jsonl"}],
    }
)


def add(engine: Engine, minutes_ago: float, text: str, sentiment: str = "neutral") -> None:
    with session(engine) as s:
        n = s.exec(select(Mention.id)).all()
        s.add(
            Mention(
                platform="import",
                feed="f1",
                external_id=f"m{len(n)}",
                text=text,
                created_at=NOW - timedelta(minutes=minutes_ago),
                fetched_at=NOW,
                sentiment=sentiment,
                status="answered",
            )
        )
        s.commit()


def spikes(engine: Engine) -> list[Alert]:
    with session(engine) as s:
        return list(s.exec(select(Alert).where(Alert.kind == "spike")))


def test_a_burst_far_above_baseline_raises_one_spike_with_its_words(engine: Engine) -> None:
    for day in range(1, 14):  # a quiet baseline: two mentions a day
        add(engine, day * 1440 + 30, "A question about invoices")
        add(engine, day * 1440 + 300, "Thanks for the help")
    for minute in range(12):
        add(engine, minute * 4, "Checkout outage again, payment failed", sentiment="negative")
    sweeper = Sweeper(CONFIG, engine)
    sweeper.run_once(NOW)
    found = spikes(engine)
    assert {a.key.split(":")[2] for a in found} == {"mentions", "negative"}
    body = found[0].body or ""
    assert "12 mentions in the last hour" in body or "12 negative mentions" in body
    assert "outage" in body and "checkout" in body
    Sweeper(CONFIG, engine).run_once(NOW + timedelta(minutes=30))
    assert len(spikes(engine)) == 2, "one alert per spike, not one per sweep"


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
