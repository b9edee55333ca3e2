"""Spike alerts: a feed's last hour far above its own hourly baseline, in volume or negatives."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor.config import Config
from monitor.models import Alert, Mention
from monitor.routing import Router

_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_COMMON = frozenset(
    "this that with have from they your what when there their about would just been were "
    "will more some than them into only also very like does dont cant isnt http https".split()
)


@dataclass(frozen=True)
class Spike:
    feed: str
    measure: str  # "mentions" or "negative mentions"
    count: int
    mean: float
    stddev: float


def _hour_bucket(session: Session) -> Any:
    """Whole hours since the epoch, in SQL, for either database."""
    if session.get_bind().dialect.name == "sqlite":
        epoch = sa.cast(sa.func.strftime("%s", col(Mention.created_at)), sa.Integer)
    else:
        epoch = sa.cast(sa.extract("epoch", col(Mention.created_at)), sa.Integer)
    return sa.func.floor(epoch / 3600)


def find_spikes(session: Session, config: Config, now: datetime) -> list[Spike]:
    """Hours counted in SQL; the baseline is every hour of the last N days, empty ones as 0."""
    alerts = config.alerts
    hours = alerts.spike_baseline_days * 24
    start = now - timedelta(hours=hours + 1)
    last_hour = now - timedelta(hours=1)
    bucket = _hour_bucket(session).label("bucket")
    negative = sa.func.sum(sa.case((col(Mention.sentiment) == "negative", 1), else_=0))
    baseline_rows = session.exec(
        select(Mention.feed, bucket, sa.func.count(), negative)
        .where(col(Mention.created_at) >= start, col(Mention.created_at) < last_hour)
        .group_by(col(Mention.feed), bucket)
    ).all()
    recent_rows = session.exec(
        select(Mention.feed, sa.func.count(), negative)
        .where(col(Mention.created_at) >= last_hour, col(Mention.created_at) <= now)
        .group_by(col(Mention.feed))
    ).all()
    per_feed: dict[str, list[tuple[int, int]]] = {}
    oldest: dict[str, int] = {}
    for feed, hour, count, neg in baseline_rows:
        per_feed.setdefault(feed, []).append((int(count), int(neg or 0)))
        oldest[feed] = min(oldest.get(feed, int(hour)), int(hour))
    spikes = []
    first_day = int(now.timestamp() // 3600) - 24
    for feed, count, neg in recent_rows:
        if oldest.get(feed, first_day + 1) > first_day:
            continue  # less than a day of history is no baseline: a new feed is not a spike
        history = per_feed.get(feed, [])
        for measure, index, current in (
            ("mentions", 0, int(count)),
            ("negative mentions", 1, int(neg or 0)),
        ):
            values = [h[index] for h in history] + [0] * (hours - len(history))
            mean = sum(values) / hours
            stddev = math.sqrt(sum((v - mean) ** 2 for v in values) / hours)
            if current >= alerts.spike_min_count and current > mean + alerts.spike_sigma * stddev:
                spikes.append(Spike(feed, measure, current, mean, stddev))
    return spikes


def dominant_terms(texts: list[str], limit: int = 5) -> list[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({w.lower() for w in _WORD.findall(text)} - _COMMON)
    return [word for word, n in counts.most_common(limit) if n > 1]


def raise_spike_alerts(
    session: Session, config: Config, router: Router, now: datetime
) -> list[Alert]:
    alerts = []
    hour = int(now.timestamp() // 3600)
    for spike in find_spikes(session, config, now):
        key = f"spike:{spike.feed}:{spike.measure.split()[0]}:{hour}"
        recent_key = f"spike:{spike.feed}:{spike.measure.split()[0]}:{hour - 1}"
        taken = session.exec(select(Alert.id).where(col(Alert.key).in_((key, recent_key)))).first()
        if taken is not None:
            continue  # one alert per spike, not one per minute while it lasts
        texts = session.exec(
            select(Mention.text).where(
                Mention.feed == spike.feed, col(Mention.created_at) >= now - timedelta(hours=1)
            )
        ).all()
        terms = dominant_terms(list(texts))
        body = (
            f"Spike on {spike.feed}: {spike.count} {spike.measure} in the last hour "
            f"(usual {spike.mean:.1f} ± {spike.stddev:.1f} an hour over "
            f"{config.alerts.spike_baseline_days} days)\n"
            + (f"Most frequent words: {', '.join(terms)}" if terms else "")
        )
        destination = router.route(kind="spike", feed=spike.feed)
        alert = Alert(
            key=key,
            kind="spike",
            feed=spike.feed,
            channel=destination.channel,
            route=destination.route,
            body=body,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(alert)
        alerts.append(alert)
    return alerts
