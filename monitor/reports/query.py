"""Report numbers from the stored mention columns: one SQL aggregate pass plus sorted TTFRs."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain, groupby
from operator import itemgetter
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from monitor.sentiment.language import UNDETERMINED
from monitor.states import MentionStatus, SentimentLabel, SlaState
from monitor.store.db import reader
from monitor.store.models import Mention, UTCDateTime, table_of

Dimension = Literal["platform", "feed", "week", "sentiment", "language"]
DIMENSIONS: tuple[Dimension, ...] = ("platform", "feed", "week", "sentiment", "language")
SENTIMENTS = tuple(SentimentLabel)  # in report column order: negative, neutral, ...
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
M = table_of(Mention).c
UNKNOWN_LANGUAGE = "unknown"
# Not detected (None) and detected as undetermined ("und", the code a store keeps) read the
# same to a manager: one group.
_UNKNOWN_LANGUAGES = (None, UNDETERMINED)


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

    @classmethod
    def of_runs(cls, runs: Sequence[Sequence[float]]) -> Durations:
        """As `of` over the merged runs (same ranks and interpolation), never merging them."""
        runs = [run for run in runs if run]
        count = sum(len(run) for run in runs)
        if not count:
            return cls()

        def pick(q: float) -> float:
            position = (count - 1) * q
            low = math.floor(position)
            high = min(low + 1, count - 1)
            value = _kth(runs, low)
            return value + (_kth(runs, high) - value) * (position - low)

        return cls(
            count=count,
            median=pick(0.5),
            p90=pick(0.9),
            mean=math.fsum(chain.from_iterable(runs)) / count,
        )


def _kth(runs: Sequence[Sequence[float]], k: int) -> float:
    """The k-th smallest (0-based) of several sorted runs, without merging them: narrow each
    run's candidate range around a pivot until the pivot's rank range holds k."""
    lo = [0] * len(runs)
    hi = [len(run) for run in runs]
    while True:
        widest = max(range(len(runs)), key=lambda i: hi[i] - lo[i])
        pivot = runs[widest][(lo[widest] + hi[widest]) // 2]
        below = [bisect_left(run, pivot, lo[i], hi[i]) for i, run in enumerate(runs)]
        upto = [bisect_right(run, pivot, lo[i], hi[i]) for i, run in enumerate(runs)]
        smaller = sum(b - a for a, b in zip(lo, below, strict=True))
        not_larger = sum(b - a for a, b in zip(lo, upto, strict=True))
        if k < smaller:
            hi = below
        elif k >= not_larger:
            k -= not_larger
            lo = upto
        else:
            return pivot


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
    mentions: int = 0  # every mention created in the period, survey answers included
    surveys: int = 0  # survey answers (a 0-10 score): no public reply expected, in no column below
    answered: int = 0
    handled: int = 0
    dismissed: int = 0
    expired: int = 0
    open: int = 0  # = open_past_sla + open_not_due + open_no_clock
    open_past_sla: int = 0
    open_not_due: int = 0
    open_no_clock: int = 0  # history from a backfill: no SLA clock, never past SLA
    sla_answered: int = 0  # answered mentions that had an SLA clock
    sla_expired: int = 0  # expired mentions that had an SLA clock
    sla_met: int = 0
    # answered mentions whose TTFR is an upper bound ("<="): the thread was not read in full
    ttfr_not_exact: int = 0
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
    def expecting_reply(self) -> int:
        """Mentions that expect a public reply, whatever their age: dismissed ones, handled ones
        (answered off-platform, shown apart) and survey answers do not."""
        return self.answered + self.open + self.expired

    @property
    def reply_rate(self) -> float | None:
        """answered / mentions that expect a public reply."""
        return self.answered / self.expecting_reply if self.expecting_reply else None

    @property
    def sla_judged(self) -> int:
        """Mentions whose SLA is decided: answered, open past due, expired (with a clock)."""
        return self.sla_answered + self.open_past_sla + self.sla_expired

    @property
    def sla_rate(self) -> float | None:
        """SLA compliance: answered within target / sla_judged; open not yet due stay out."""
        return self.sla_met / self.sla_judged if self.sla_judged else None

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


def histogram(ordered: Sequence[float]) -> list[int]:
    """The BUCKETS counts of sorted calendar TTFRs, by bisection: the numbers a filtered count
    per bucket gives in SQL, where they cost a fifth of a year report's count pass."""
    return [bisect_left(ordered, high) - bisect_left(ordered, low) for _, low, high in BUCKETS]


def week_label(start: datetime, tz: ZoneInfo) -> str:
    """The local date of the week's Monday (or of the window start for a clipped first week)."""
    return start.astimezone(tz).date().isoformat()


def _in_window(window: Window) -> ColumnElement[bool]:
    return sa.and_(M.created_at >= window.since, M.created_at < window.until)


# The "class" of a mention: the columns every grouping but `week` is made of, in the order of
# ix_mention_report. Grouping by this prefix lets SQLite read the index in GROUP BY order
# instead of sorting every row (the sort was most of a year report's time), and one pass
# then yields every grouping: the rows (a few hundred) are summed per dimension in Python.
_CLASS: dict[str, ColumnElement[Any]] = {
    "status": M.status,
    "platform": M.platform,
    "feed": M.feed,
    "sentiment": M.sentiment,
    "language": M.language,
}
_STATUSES = (
    MentionStatus.ANSWERED,
    MentionStatus.HANDLED,
    MentionStatus.DISMISSED,
    MentionStatus.EXPIRED,
    MentionStatus.OPEN,
)


def _group_name(by: Dimension | Literal["all"], row: Any) -> str:
    if by == "all":
        return ALL
    value = row[by]
    if by == "language" and value in _UNKNOWN_LANGUAGES:
        return UNKNOWN_LANGUAGE
    return str(value)


# A survey answer (a 0-10 score) expects no public reply: out of reply rate, SLA and backlog.
_REPLY_EXPECTED = M.score.is_(None)
# History from a backfill got no SLA clock (monitor/alerting/sla.py): out of every SLA figure.
_BACKFILL = SlaState.BACKFILL


def _clocked(first: ColumnElement[bool]) -> ColumnElement[bool]:
    """`first`, for mentions with an SLA clock that expect a reply. The rarest condition comes
    first: both databases stop at the first false term, and these run on every row."""
    return sa.and_(first, M.sla_state.is_distinct_from(_BACKFILL), _REPLY_EXPECTED)


def _count_rows(conn: Connection, window: Window) -> list[Any]:
    """Counts per class: status and sentiment counts are the GROUP BY itself; the other
    numbers are filtered counts, read per status in Python (_add_counts)."""
    keys = [column.label(name) for name, column in _CLASS.items()]
    columns: list[Any] = [
        *keys,
        sa.func.count().label("mentions"),
        _count(M.score.is_not(None)).label("surveys"),
        _count(sa.and_(M.sla_state == _BACKFILL, _REPLY_EXPECTED)).label("no_clock"),
        _count(_clocked(sa.and_(M.status == MentionStatus.OPEN, M.sla_due_at < window.now))).label(
            "past_sla"
        ),
        _count(_clocked(sa.and_(M.status == MentionStatus.ANSWERED, M.sla_met.is_(True)))).label(
            "sla_met"
        ),
        _count(
            sa.and_(M.ttfr_exact.is_(False), M.status == MentionStatus.ANSWERED, _REPLY_EXPECTED)
        ).label("not_exact"),
        sa.func.min(M.created_at)
        .filter(sa.and_(M.status == MentionStatus.OPEN, _REPLY_EXPECTED))
        .label("oldest"),
        # ranges, not round(): PostgreSQL rounds half to even, SQLite half away from zero
        *(_count(_stars(stars)).label(f"r{stars}") for stars in range(1, 6)),
        sa.func.sum(M.rating).filter(_stars(None)).label("rating_sum"),
        _count(M.score >= 9).label("promoters"),
        _count(sa.and_(M.score >= 7, M.score <= 8)).label("passives"),
        _count(M.score <= 6).label("detractors"),
    ]
    query = sa.select(*columns).where(_in_window(window)).group_by(*keys)
    with_rows = conn.execute(query).mappings()
    return list(with_rows)


def _add_counts(stats: GroupStats, row: Any) -> None:
    """Fold one class row into a group: exact, the counts are sums and the oldest a min."""
    mentions, surveys = int(row["mentions"]), int(row["surveys"] or 0)
    no_clock, past_sla = int(row["no_clock"] or 0), int(row["past_sla"] or 0)
    expecting = mentions - surveys  # survey answers are counted apart, in no status column
    clocked = expecting - no_clock
    status, sentiment = row["status"], row["sentiment"]
    stats.mentions += mentions
    stats.surveys += surveys
    if status in _STATUSES:
        setattr(stats, status, getattr(stats, status) + expecting)
    if sentiment in stats.sentiment:
        stats.sentiment[sentiment] += mentions
    if status == MentionStatus.OPEN:
        stats.open_past_sla += past_sla
        stats.open_no_clock += no_clock
        stats.open_not_due += clocked - past_sla
        oldest = _aware(row["oldest"])
        if oldest is not None and (stats.oldest_open_at is None or oldest < stats.oldest_open_at):
            stats.oldest_open_at = oldest
    if status == MentionStatus.ANSWERED:
        stats.sla_answered += clocked
        stats.sla_met += int(row["sla_met"] or 0)
        stats.ttfr_not_exact += int(row["not_exact"] or 0)
    if status == MentionStatus.EXPIRED:
        stats.sla_expired += clocked
    stats.ratings = [n + int(row[f"r{i + 1}"] or 0) for i, n in enumerate(stats.ratings)]
    stats.rating_sum += float(row["rating_sum"] or 0.0)
    for name in ("promoters", "passives", "detractors"):
        setattr(stats, name, getattr(stats, name) + int(row[name] or 0))


def ttfr_query(engine: Engine, others: Sequence[Dimension]) -> sa.Executable:
    """The answered mentions' group columns and TTFRs in [:since, :until), class by class.

    On SQLite it is written out because SQLAlchemy's SQLite dialect drops `with_hint()`
    without a word (an earlier version's hint never reached the database): without INDEXED
    BY the planner takes (status, created_at) and reads 700,000 table rows; with it the rows
    come from the covering ix_mention_report alone, already in class order."""
    if engine.dialect.name == "sqlite":
        columns = [*(_CLASS[dim].name for dim in others), "ttfr_seconds", "ttfr_business_seconds"]
        return sa.text(
            f"SELECT {', '.join(columns)}"
            " FROM mention INDEXED BY ix_mention_report WHERE status = 'answered'"
            " AND created_at >= :since AND created_at < :until AND score IS NULL"
        ).bindparams(
            sa.bindparam("since", type_=UTCDateTime()), sa.bindparam("until", type_=UTCDateTime())
        )
    return (
        sa.select(
            *(_CLASS[dim].label(dim) for dim in others), M.ttfr_seconds, M.ttfr_business_seconds
        )
        .where(
            M.created_at >= sa.bindparam("since"),
            M.created_at < sa.bindparam("until"),
            M.status == MentionStatus.ANSWERED,
            _REPLY_EXPECTED,
        )
        # the same class order, from the same index where the planner takes it
        .order_by(M.platform, M.feed, M.sentiment, M.language)
    )


def _durations(
    engine: Engine, window: Window, dims: Sequence[Dimension]
) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Per dimension and group, the calendar and business TTFRs of the answered mentions,
    sorted. Only the needed columns are fetched: on SQLite they come from ix_mention_report
    alone, never from the table rows. Weeks are read one range at a time (a CASE over every
    week boundary, evaluated per row, cost more than the fetch itself)."""
    others = [dim for dim in dims if dim != "week"]
    # psycopg 3 (what a postgresql:// URL opens) can read arrays in binary; psycopg2 cannot
    binary_arrays = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    runs_of = _pg_runs if binary_arrays else _ordered_runs(engine, others)
    ranges = (
        [(week_label(start, window.tz), start, end) for start, end in window.weeks()]
        if "week" in dims
        else [(ALL, window.since, window.until)]
    )
    found: dict[str, dict[Any, tuple[list[float], list[float]]]] = {d: {} for d in dims}
    with reader(engine).connect() as conn:
        for label, since, until in ranges:
            for keys, calendar, business in runs_of(conn, others, since, until):
                if "week" in dims:
                    week = found["week"].setdefault(label, ([], []))
                    week[0].extend(calendar)
                    week[1].extend(business)
                for dim, value in zip(others, keys, strict=True):
                    if dim == "language" and value in _UNKNOWN_LANGUAGES:
                        value = None  # one "unknown" group, as in the counts
                    lists = found[dim].setdefault(value, ([], []))
                    lists[0].extend(calendar)
                    lists[1].extend(business)
    named: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for kind, groups in found.items():
        for calendar, business in groups.values():
            calendar.sort()
            business.sort()
        unknown = UNKNOWN_LANGUAGE if kind == "language" else "None"
        named[kind] = {unknown if key is None else str(key): v for key, v in groups.items()}
    return named


# Runs of TTFRs: the values of the dimensions, then the calendar and business TTFRs of
# answered mentions having them (NULLs left out, unsorted). A group may come as several runs.
Run = tuple[tuple[Any, ...], list[float], list[float]]
Runs = Callable[[Connection, Sequence[Dimension], datetime, datetime], Iterator[Run]]


def _ordered_runs(engine: Engine, others: Sequence[Dimension]) -> Runs:
    """A row per answered mention, in class order (ttfr_query), split into runs."""
    query = ttfr_query(engine, others)
    width = len(others)
    calendar_of, business_of = itemgetter(width), itemgetter(width + 1)

    def runs(
        conn: Connection, others: Sequence[Dimension], since: datetime, until: datetime
    ) -> Iterator[Run]:
        # Plain floats and strings: read the DBAPI cursor directly, skipping per-row
        # result processing (a third of the time at a million rows).
        rows = conn.execute(query, {"since": since, "until": until}).cursor.fetchall()
        # Rows arrive class by class, and every dimension is constant within a class, so
        # they form a few hundred runs: split per run with itemgetter and groupby (C)
        # rather than a Python loop over every row. Another order gives more, shorter
        # runs and the same lists.
        for key, run in groupby(rows, itemgetter(*range(width))) if width else [((), rows)]:
            values = list(run)
            keys = key if width != 1 else (key,)
            yield keys, _present(map(calendar_of, values)), _present(map(business_of, values))

    return runs


def _pg_runs(
    conn: Connection, others: Sequence[Dimension], since: datetime, until: datetime
) -> Iterator[Run]:
    """PostgreSQL: one row per combination of the dimensions, its TTFRs as two arrays
    (array_agg over a hash aggregate), read in binary. The row-per-mention query sorted
    600,000 rows by four text columns (on disk, past work_mem) for a whole year, and psycopg
    parsed 1.2 million floats from text: 1.2 s of a 1.7 s report, against 0.3 s for this.
    The arrays are not sorted in SQL: Python sorts each group's list once, as for SQLite."""
    names = [str(_CLASS[dim].name) for dim in others]
    keys = ", ".join(names)
    sql = (
        f"SELECT {keys + ', ' if keys else ''}"
        "array_agg(ttfr_seconds), array_agg(ttfr_business_seconds) FROM mention"
        " WHERE status = %(status)s AND score IS NULL"
        " AND created_at >= %(since)s AND created_at < %(until)s"
        + (f" GROUP BY {keys}" if keys else "")
    )
    params = {"status": str(MentionStatus.ANSWERED.value), "since": since, "until": until}
    # the driver's own cursor: SQLAlchemy cannot ask psycopg for binary results
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor(binary=True) as cursor:
        cursor.execute(sql, params)
        for *values, calendar, business in cursor.fetchall():
            # without GROUP BY, a window with no answers still gives one row, of NULLs
            yield tuple(values), _present(calendar or []), _present(business or [])


def _present(values: Iterable[float | None]) -> list[float]:
    """The values without the NULLs (rare: a scan for None is cheaper than a filter)."""
    found = list(values)
    if None in found:
        return [v for v in found if v is not None]
    return cast(list[float], found)


def _counts(engine: Engine, window: Window, dims: Sequence[Dimension]) -> dict[str, list[Any]]:
    """The class rows of the window and, when weeks are asked for, of every week: one query
    per week, each an index range, beats one GROUP BY over a CASE (a sort of every row)."""
    found: dict[str, list[Any]] = {}
    with reader(engine).connect() as conn:
        if engine.dialect.name == "sqlite":
            _ensure_statistics(conn)
        if engine.dialect.name == "postgresql":
            # This runs beside the durations query (aggregate_many), which is the longer of
            # the two: parallel workers here only shorten the shorter one while taking the
            # cores the other needs. A whole year, 1M mentions, 2 cores: 0.61 s against 0.72.
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        if "week" not in dims:
            return {ALL: _count_rows(conn, window)}
        # the weeks partition the window: their rows are the window's rows too
        for start, end in window.weeks():
            part = Window(start, end, window.now, window.tz)
            found[week_label(start, window.tz)] = _count_rows(conn, part)
    found[ALL] = [row for rows in found.values() for row in rows]
    return found


def _ensure_statistics(conn: Connection) -> None:
    """SQLite only reads ix_mention_report by ranges of created_at (a skip-scan) when ANALYZE
    has measured it; without statistics a week's report would read the whole index. Run it
    when they are missing or the table has doubled since (about 1 s per million mentions)."""
    has_stats = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
    ).scalar()
    measured = None
    if has_stats:
        stat = conn.exec_driver_sql(
            "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_mention_report'"
        ).scalar()
        measured = int(stat.split()[0]) if stat else None
    rows = conn.exec_driver_sql("SELECT max(id) FROM mention").scalar() or 0
    if rows < 1000 or (measured is not None and rows <= 2 * measured):
        return
    conn.exec_driver_sql("ANALYZE mention")
    conn.commit()


def _in_memory(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")


def aggregate_many(
    engine: Engine, window: Window, dims: Sequence[Dimension]
) -> tuple[dict[Dimension, list[GroupStats]], GroupStats]:
    """Several groupings and the total from as few passes as possible: one count query for
    all the non-week dimensions (plus one per week), one fetch of the answered TTFRs. The
    counts run on a second connection in a thread while this one fetches and sorts the
    durations: the database counts on one core (SQLite's sqlite3_step and a PostgreSQL wait
    both release the GIL) while Python builds and sorts the TTFR lists on the other. Measured
    on SQLite at a million mentions on an idle 2-core machine: 0.96 s together against 1.89 s
    one after the other; on a busy machine it falls back to about the serial time."""
    wanted = list(dict.fromkeys(dims))
    if _in_memory(engine):
        # each thread of an in-memory SQLite engine gets its own, empty, database
        counted = _counts(engine, window, wanted)
        durations = _durations(engine, window, wanted)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(_counts, engine, window, wanted)
            durations = _durations(engine, window, wanted)
            counted = pending.result()
    periods = dict(_periods("week", window)) if "week" in wanted else {}
    stats: dict[str, dict[str, GroupStats]] = {d: {} for d in wanted}
    total = GroupStats(group=ALL, period_start=window.since, period_end=window.until)
    for row in counted.get(ALL, []):
        _add_counts(total, row)
        for dim in wanted:
            if dim != "week":
                name = _group_name(dim, row)
                if name not in stats[dim]:
                    stats[dim][name] = GroupStats(name, window.since, window.until)
                _add_counts(stats[dim][name], row)
    for label, (start, end) in periods.items():
        week = GroupStats(label, start, end)
        for row in counted.get(label, []):
            _add_counts(week, row)
        if week.mentions:  # weeks without mentions are left out
            stats["week"][label] = week
    for kind, groups in stats.items():
        for name, group in groups.items():
            group._calendar, group._business = durations[kind].get(name, ([], []))
            group.ttfr = Durations.of(group._calendar)
            group.ttfr_business = Durations.of(group._business)
            group.buckets = histogram(group._calendar)
    # the total's percentiles are picked from the first grouping's sorted runs, unsorted
    runs = list(durations[wanted[0]].values())
    total.ttfr = Durations.of_runs([calendar for calendar, _ in runs])
    total.ttfr_business = Durations.of_runs([business for _, business in runs])
    for calendar, _ in runs:
        total.buckets = [a + b for a, b in zip(total.buckets, histogram(calendar), strict=True)]
    result: dict[Dimension, list[GroupStats]] = {}
    for dim in wanted:
        if dim == "week":
            # Only weeks with mentions, in date order: each row carries its period, so a gap
            # shows as a jump in dates (26 years of mostly empty weeks made a 1.6 MB JSON).
            result[dim] = [stats[dim][label] for label in periods if label in stats[dim]]
        else:
            result[dim] = sorted(stats[dim].values(), key=lambda g: (-g.mentions, g.group))
    return result, total


def aggregate(engine: Engine, window: Window, by: Dimension) -> list[GroupStats]:
    """One row per group: counts in one SQL pass, TTFR percentiles from sorted durations."""
    return aggregate_many(engine, window, [by])[0][by]


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
            "surveys",
            "answered",
            "handled",
            "dismissed",
            "expired",
            "open",
            "open_past_sla",
            "open_not_due",
            "open_no_clock",
            "sla_answered",
            "sla_expired",
            "sla_met",
            "ttfr_not_exact",
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
        .where(M.status == MentionStatus.OPEN, _REPLY_EXPECTED, M.created_at < window.until)
        .order_by(M.created_at, M.id)
        .limit(limit)
    )
    with reader(engine).connect() as conn:
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
    # the period of the same length just before, for the headline numbers' change
    previous: GroupStats | None = None


def previous_window(window: Window) -> Window:
    """The period of the same length that ends where `window` starts, judged as of the same now."""
    return Window(window.since - (window.until - window.since), window.since, window.now, window.tz)


def period_total(engine: Engine, window: Window) -> GroupStats:
    """The `all` row alone (the headline numbers of any period)."""
    return aggregate_many(engine, window, ["platform"])[1]


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
    dims: list[Dimension] = [by, "week", "platform"] if charts else [by]
    grouped, total = aggregate_many(engine, window, dims)
    report = Report(
        title=title,
        window=window,
        by=by,
        groups=grouped[by],
        total=total,
        slowest=slowest_open(engine, window, slowest),
    )
    if charts:
        report.weekly = grouped["week"]
        report.platforms = grouped["platform"]
        report.previous = period_total(engine, previous_window(window))
    return report


def parse_since(value: str, now: datetime, tz: ZoneInfo) -> datetime:
    """`7d`, `30d`, `12h` back from now, or a local date / ISO datetime."""
    from connectors.durations import parse_duration

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
