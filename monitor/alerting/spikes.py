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

from monitor.alerting.queue import about_feed, is_queued, queue_alert
from monitor.alerting.routing import Router
from monitor.config import Config
from monitor.states import AlertKind, SentimentLabel
from monitor.store.models import Alert, Mention

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
    """Hours counted in SQL; the baseline is every hour of the last N days, empty ones as 0.

    Only feeds watched for all N days: a feed added 7 minutes ago whose first poll brought a
    week of old posts has no baseline (its quiet hours were never looked at, not quiet)."""
    alerts = config.alerts
    hours = alerts.spike_baseline_days * 24
    start = now - timedelta(hours=hours + 1)
    last_hour = now - timedelta(hours=1)
    bucket = _hour_bucket(session).label("bucket")
    negative = sa.func.sum(sa.case((col(Mention.sentiment) == SentimentLabel.NEGATIVE, 1), else_=0))
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
    for feed, _hour, count, neg in baseline_rows:
        per_feed.setdefault(feed, []).append((int(count), int(neg or 0)))
    spikes = []
    for feed, count, neg in recent_rows:
        history = per_feed.get(feed, [])
        found = []
        for measure, index, current in (
            ("mentions", 0, int(count)),
            ("negative mentions", 1, int(neg or 0)),
        ):
            values = [h[index] for h in history] + [0] * (hours - len(history))
            mean = sum(values) / hours
            stddev = math.sqrt(sum((v - mean) ** 2 for v in values) / hours)
            if current >= alerts.spike_min_count and current > mean + alerts.spike_sigma * stddev:
                found.append(Spike(feed, measure, current, mean, stddev))
        if found and _watched_since(session, feed, now - timedelta(hours=hours)):
            spikes.extend(found)
    return spikes


def _watched_since(session: Session, feed: str, since: datetime) -> bool:
    """Did we fetch anything for `feed` by `since`? Asked only of a feed that would spike."""
    first = session.exec(
        select(Mention.id).where(Mention.feed == feed, col(Mention.fetched_at) <= since).limit(1)
    ).first()
    return first is not None


def dominant_terms(texts: list[str], limit: int = 5) -> list[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({w.lower() for w in _WORD.findall(text)} - _COMMON)
    return [word for word, n in counts.most_common(limit) if n > 1]


def raise_spike_alerts(
    session: Session, config: Config, router: Router, now: datetime
) -> list[Alert]:
    """One alert per feed and spike: a burst high in volume and in negatives names both."""
    alerts = []
    hour = int(now.timestamp() // 3600)
    by_feed: dict[str, list[Spike]] = {}
    for spike in find_spikes(session, config, now):
        by_feed.setdefault(spike.feed, []).append(spike)
    for feed, spikes in by_feed.items():
        key = f"spike:{feed}:{hour}"
        if is_queued(session, key) or is_queued(session, f"spike:{feed}:{hour - 1}"):
            continue  # one alert per spike, not one per minute while it lasts
        texts = session.exec(
            select(Mention.text).where(
                Mention.feed == feed, col(Mention.created_at) >= now - timedelta(hours=1)
            )
        ).all()
        terms = dominant_terms(list(texts))
        days = config.alerts.spike_baseline_days
        measures = " and ".join(f"{s.count} {s.measure}" for s in spikes)
        usual = "; ".join(
            f"{s.measure} usually {s.mean:.1f} ± {s.stddev:.1f} an hour" for s in spikes
        )
        body = (
            f"Spike on {feed}: {measures} in the last hour\n"
            f"{usual[0].upper()}{usual[1:]} over the last {days} days."
            + (f"\nMost frequent words: {', '.join(terms)}" if terms else "")
        )
        alert = queue_alert(session, about_feed(router, AlertKind.SPIKE, feed, key, body), now)
        if alert is not None:
            alerts.append(alert)
    return alerts
