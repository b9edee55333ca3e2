"""Report numbers from the stored mention columns: one SQL aggregate pass plus sorted TTFRs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from monitor.models import Mention

Dimension = Literal["platform", "feed", "week", "sentiment", "language"]
DIMENSIONS: tuple[Dimension, ...] = ("platform", "feed", "week", "sentiment", "language")
SENTIMENTS = ("negative", "neutral", "positive", "unscored")
# Histogram buckets of calendar TTFR: lower bound inclusive, upper bound exclusive.
BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0-1h", 0, 3600),
    ("1-4h", 3600, 4 * 3600),
    ("4-8h", 4 * 3600, 8 * 3600),
    ("8-24h", 8 * 3600, 24 * 3600),
    ("over 24h", 24 * 3600, math.inf),
)
ALL = "all"
# Core columns (typed for SQL expressions) rather than the model's Python-typed attributes
M = cast(sa.Table, Mention.__table__).c  # type: ignore[attr-defined]
UNKNOWN_LANGUAGE = "unknown"


@dataclass(frozen=True)
class Window:
    """Mentions created in [since, until), judged as of `now`, weeks cut in `tz`."""

    since: datetime
    until: datetime
    now: datetime
    tz: ZoneInfo

    def weeks(self) -> list[tuple[datetime, datetime]]:
        """Monday-to-Monday weeks in `tz` that overlap the window, clipped to it."""
        first = self.since.astimezone(self.tz).date()
        monday = first - timedelta(days=first.weekday())
        edges: list[datetime] = []
        day = monday
        while True:
            start = local_midnight(day, self.tz)
            if start >= self.until:
                break
            edges.append(start)
            day += timedelta(days=7)
        weeks = []
        for index, start in enumerate(edges):
            end = edges[index + 1] if index + 1 < len(edges) else self.until
            weeks.append((max(start, self.since), min(end, self.until)))
        return weeks


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """In UTC, so differences are real durations (same-zone subtraction ignores DST)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass
class Durations:
    """Median first, then p90, mean and count, over sorted TTFR seconds."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, ordered: Sequence[float]) -> Durations:
        if not ordered:
            return cls()
        return cls(
            count=len(ordered),
            median=percentile(ordered, 0.5),
            p90=percentile(ordered, 0.9),
            mean=sum(ordered) / len(ordered),
        )


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL percentile_cont, numpy default)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class GroupStats:
    """Every number of one report row: a group (platform, feed, week...) over one period."""

    group: str
    period_start: datetime
    period_end: datetime
    mentions: int = 0
    answered: int = 0
    handled: int = 0
    dismissed: int = 0
    expired: int = 0
    open: int = 0
    open_past_sla: int = 0
    sla_met: int = 0
    oldest_open_at: datetime | None = None
    sentiment: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SENTIMENTS, 0))
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    ratings: list[int] = field(default_factory=lambda: [0] * 5)  # 1..5 stars, rounded
    rating_sum: float = 0.0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    ttfr: Durations = field(default_factory=Durations)
    ttfr_business: Durations = field(default_factory=Durations)
    # kept so groups can be combined into totals without another query
    _calendar: list[float] = field(default_factory=list, repr=False)
    _business: list[float] = field(default_factory=list, repr=False)

    @property
    def reply_rate(self) -> float | None:
        """answered / (answered + open past their SLA + expired); dismissed stay out."""
        denominator = self.answered + self.open_past_sla + self.expired
        return self.answered / denominator if denominator else None

    @property
    def sla_rate(self) -> float | None:
        return self.sla_met / self.answered if self.answered else None

    @property
    def rating_count(self) -> int:
        return sum(self.ratings)

    @property
    def rating_mean(self) -> float | None:
        return self.rating_sum / self.rating_count if self.rating_count else None

    @property
    def nps_responses(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> float | None:
        """% promoters (9-10) minus % detractors (0-6), from -100 to 100."""
        total = self.nps_responses
        return 100.0 * (self.promoters - self.detractors) / total if total else None

    def oldest_open_age(self, now: datetime) -> float | None:
        if self.oldest_open_at is None:
            return None
        return max(0.0, (now - self.oldest_open_at).total_seconds())


@dataclass
class OpenMention:
    id: int
    platform: str
    feed: str
    created_at: datetime
    url: str | None
    author: str | None
    text: str
    sentiment: str
    sla_due_at: datetime | None


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """count(*) FILTER (WHERE ...): PostgreSQL and SQLite >= 3.30, faster than SUM(CASE)."""
    return sa.func.count().filter(condition)


def _stars(stars: int | None) -> ColumnElement[bool]:
    """A rating counted as `stars` (rounded half up); None: any rating from 1 to 5."""
    low, high = (0.5, 5.5) if stars is None else (stars - 0.5, stars + 0.5)
    if stars == 5 or stars is None:
        return sa.and_(M.rating >= low, M.rating <= 5.5)
    return sa.and_(M.rating >= low, M.rating < high)


def _bucket(answered: ColumnElement[bool], low: float, high: float) -> ColumnElement[bool]:
    ttfr = M.ttfr_seconds
    if high == math.inf:
        return sa.and_(answered, ttfr >= low)
    return sa.and_(answered, ttfr >= low, ttfr < high)


def _group_key(by: Dimension, window: Window) -> ColumnElement[Any]:
    if by == "week":
        weeks = window.weeks()
        if not weeks:
            return sa.literal(ALL)
        # week labels come from boundaries computed in Python: time-zone correct on any database
        whens = [
            (M.created_at < end, sa.literal(week_label(start, window.tz)))
            for start, end in weeks[:-1]
        ]
        last = sa.literal(week_label(weeks[-1][0], window.tz))
        return sa.case(*whens, else_=last) if whens else last
    if by == "language":
        return sa.func.coalesce(M.language, UNKNOWN_LANGUAGE)
    column: ColumnElement[Any] = {
        "platform": M.platform,
        "feed": M.feed,
        "sentiment": M.sentiment,
    }[by]
    return column


def week_label(start: datetime, tz: ZoneInfo) -> str:
    """The local date of the week's Monday (or of the window start for a clipped first week)."""
    return start.astimezone(tz).date().isoformat()


def _in_window(window: Window) -> ColumnElement[bool]:
    return sa.and_(M.created_at >= window.since, M.created_at < window.until)


def aggregate(engine: Engine, window: Window, by: Dimension) -> list[GroupStats]:
    """One row per group: counts in one SQL pass, TTFR percentiles from sorted durations."""
    key = _group_key(by, window).label("key")
    status = M.status
    answered = status == "answered"
    columns: list[Any] = [
        key,
        sa.func.count().label("mentions"),
        *(_count(status == s).label(s) for s in ("answered", "handled", "dismissed", "expired")),
        _count(status == "open").label("open"),
        _count(sa.and_(status == "open", M.sla_due_at < window.now)).label("open_past_sla"),
        _count(sa.and_(answered, M.sla_met.is_(True))).label("sla_met"),
        sa.func.min(M.created_at).filter(status == "open").label("oldest_open_at"),
        *(_count(M.sentiment == s).label(f"s_{s}") for s in SENTIMENTS),
        *(
            _count(_bucket(answered, low, high)).label(f"b{i}")
            for i, (_, low, high) in enumerate(BUCKETS)
        ),
        # ranges, not round(): PostgreSQL rounds half to even, SQLite half away from zero
        *(_count(_stars(stars)).label(f"r{stars}") for stars in range(1, 6)),
        sa.func.sum(M.rating).filter(_stars(None)).label("rating_sum"),
        _count(M.score >= 9).label("promoters"),
        _count(sa.and_(M.score >= 7, M.score <= 8)).label("passives"),
        _count(M.score <= 6).label("detractors"),
    ]
    query = sa.select(*columns).where(_in_window(window)).group_by(key)
    periods = dict(_periods(by, window))
    groups: dict[str, GroupStats] = {}
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            start, end = periods.get(row["key"], (window.since, window.until))
            stats = GroupStats(group=str(row["key"]), period_start=start, period_end=end)
            stats.mentions = row["mentions"]
            for name in ("answered", "handled", "dismissed", "expired", "open", "open_past_sla"):
                setattr(stats, name, int(row[name] or 0))
            stats.sla_met = int(row["sla_met"] or 0)
            stats.oldest_open_at = _aware(row["oldest_open_at"])
            stats.sentiment = {s: int(row[f"s_{s}"] or 0) for s in SENTIMENTS}
            stats.buckets = [int(row[f"b{i}"] or 0) for i in range(len(BUCKETS))]
            stats.ratings = [int(row[f"r{stars}"] or 0) for stars in range(1, 6)]
            stats.rating_sum = float(row["rating_sum"] or 0.0)
            for name in ("promoters", "passives", "detractors"):
                setattr(stats, name, int(row[name] or 0))
            groups[stats.group] = stats
        # Percentiles need the values themselves: fetch only the two duration columns.
        durations = sa.select(key, M.ttfr_seconds, M.ttfr_business_seconds).where(
            _in_window(window), answered
        )
        calendar: dict[str, list[float]] = {}
        business: dict[str, list[float]] = {}
        # Plain floats and strings: read the DBAPI cursor directly, skipping per-row result
        # processing (a third of the time at a million rows).
        for group, seconds, business_seconds in conn.execute(durations).cursor.fetchall():
            if seconds is not None:
                calendar.setdefault(group, []).append(seconds)
            if business_seconds is not None:
                business.setdefault(group, []).append(business_seconds)
    for name, stats in groups.items():
        stats._calendar = sorted(calendar.get(name, []))
        stats._business = sorted(business.get(name, []))
        stats.ttfr = Durations.of(stats._calendar)
        stats.ttfr_business = Durations.of(stats._business)
    if by == "week":
        # every week shows, also the empty ones: a gap is information
        return [
            groups.get(label) or GroupStats(label, s, e) for label, (s, e) in _periods(by, window)
        ]
    return sorted(groups.values(), key=lambda g: (-g.mentions, g.group))


def _periods(by: Dimension, window: Window) -> Iterable[tuple[str, tuple[datetime, datetime]]]:
    if by != "week":
        return []
    return [(week_label(start, window.tz), (start, end)) for start, end in window.weeks()]


def _aware(value: Any) -> datetime | None:
    """min() over a CASE loses the column type on SQLite: parse and re-attach UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def combine(groups: Sequence[GroupStats], window: Window, name: str = ALL) -> GroupStats:
    """The total row: sums of the counts, percentiles over every group's durations."""
    total = GroupStats(group=name, period_start=window.since, period_end=window.until)
    for g in groups:
        for attr in (
            "mentions",
            "answered",
            "handled",
            "dismissed",
            "expired",
            "open",
            "open_past_sla",
            "sla_met",
            "rating_sum",
            "promoters",
            "passives",
            "detractors",
        ):
            setattr(total, attr, getattr(total, attr) + getattr(g, attr))
        for label, count in g.sentiment.items():
            total.sentiment[label] = total.sentiment.get(label, 0) + count
        total.buckets = [a + b for a, b in zip(total.buckets, g.buckets, strict=True)]
        total.ratings = [a + b for a, b in zip(total.ratings, g.ratings, strict=True)]
        if g.oldest_open_at is not None and (
            total.oldest_open_at is None or g.oldest_open_at < total.oldest_open_at
        ):
            total.oldest_open_at = g.oldest_open_at
    total._calendar = sorted(v for g in groups for v in g._calendar)
    total._business = sorted(v for g in groups for v in g._business)
    total.ttfr = Durations.of(total._calendar)
    total.ttfr_business = Durations.of(total._business)
    return total


def slowest_open(engine: Engine, window: Window, limit: int = 10) -> list[OpenMention]:
    """Mentions still waiting for an answer, oldest first, whenever they arrived."""
    query = (
        sa.select(
            M.id,
            M.platform,
            M.feed,
            M.created_at,
            M.url,
            M.author,
            M.text,
            M.sentiment,
            M.sla_due_at,
        )
        .where(M.status == "open", M.created_at < window.until)
        .order_by(M.created_at, M.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [OpenMention(**dict(row)) for row in conn.execute(query).mappings()]


@dataclass
class Report:
    """What every renderer gets: the chosen grouping, the total, and the extras for charts."""

    title: str
    window: Window
    by: Dimension
    groups: list[GroupStats]
    total: GroupStats
    slowest: list[OpenMention]
    weekly: list[GroupStats] = field(default_factory=list)
    platforms: list[GroupStats] = field(default_factory=list)


def build_report(
    engine: Engine,
    window: Window,
    by: Dimension,
    *,
    title: str = "Response report",
    charts: bool = False,
    slowest: int = 10,
) -> Report:
    """The report; `charts` adds the weekly and per-platform series the HTML report draws."""
    groups = aggregate(engine, window, by)
    report = Report(
        title=title,
        window=window,
        by=by,
        groups=groups,
        total=combine(groups, window),
        slowest=slowest_open(engine, window, slowest),
    )
    if charts:
        report.weekly = groups if by == "week" else aggregate(engine, window, "week")
        report.platforms = groups if by == "platform" else aggregate(engine, window, "platform")
    return report


def parse_since(value: str, now: datetime, tz: ZoneInfo) -> datetime:
    """`7d`, `30d`, `12h` back from now, or a local date / ISO datetime."""
    from monitor.durations import parse_duration

    try:
        return now - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    return _parse_point(value, tz, end_of_day=False)


def parse_until(value: str | None, now: datetime, tz: ZoneInfo) -> datetime:
    """A date means the end of that local day (inclusive); default: now."""
    if not value:
        return now
    return _parse_point(value, tz, end_of_day=True)


def _parse_point(value: str, tz: ZoneInfo, *, end_of_day: bool) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return local_midnight(day + timedelta(days=1 if end_of_day else 0), tz)
    try:
        point = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration such as 7d nor a date such as 2026-11-16"
        ) from None
    return point if point.tzinfo else point.replace(tzinfo=tz)
