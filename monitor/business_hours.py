"""Business time: seconds inside weekly opening hours in a time zone, holidays skipped."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
DAY_CACHE = 4096  # local days whose opening hours in UTC are remembered
MAX_DAYS_WALKED = 3660  # ten years: a bound, so a bad input cannot loop forever


def parse_ranges(value: str) -> list[tuple[time, time]]:
    """ "09:00-12:00, 13:00-17:30" -> [(09:00, 12:00), (13:00, 17:30)]; "" means closed."""
    ranges: list[tuple[time, time]] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        match = _RANGE.match(part)
        if not match:
            raise ValueError(f'{part!r} is not a range like "09:00-17:00"')
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or (h2, m2) == (24, 0))):
            raise ValueError(f"{part!r} is not a valid time of day")
        # "24:00" is midnight at the end of the day: time.max stands for it
        start, end = time(h1, m1), time.max if h2 == 24 else time(h2, m2)
        if end <= start:
            raise ValueError(f"{part!r} ends before it starts (overnight shifts: split them)")
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in pairwise(ranges):
        if start < end:
            raise ValueError(f"ranges overlap in {value!r}")
    return ranges


class BusinessCalendar:
    """Weekly hours in one zone; holidays are local dates on which nothing counts."""

    def __init__(
        self,
        timezone: str,
        weekly: dict[str, list[tuple[time, time]]],
        holidays: Iterable[date] = (),
        holiday_lookup: object | None = None,
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self.weekly = [weekly.get(day, []) for day in DAYS]
        self.holidays = frozenset(holidays)
        self._lookup = holiday_lookup  # a `holidays` package calendar: `date in lookup`
        self._days: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or (self._lookup is not None and day in self._lookup)  # type: ignore[operator]

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """UTC intervals of opening time that overlap [start, end), in order."""
        if end <= start:
            return
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date()
        for _ in range(MAX_DAYS_WALKED):
            if day > last:
                return
            for lo, hi in self._day_intervals(day):
                lo, hi = max(lo, start), min(hi, end)
                if lo < hi:
                    yield lo, hi
            day += timedelta(days=1)

    def _day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """A local day's opening hours in UTC, remembered: every new mention starts two SLA
        clocks that walk the same few days (bench/ingest_bench.py: 8 % of ingest time)."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        intervals: list[tuple[datetime, datetime]] = []
        if not self.is_holiday(day):
            for open_at, close_at in self.weekly[day.weekday()]:
                # wall-clock times in the zone, then UTC: a DST day stays 9-17 local
                lo = datetime.combine(day, open_at, self.zone).astimezone(UTC)
                if close_at == time.max:
                    midnight = datetime.combine(day + timedelta(days=1), time(), self.zone)
                    hi = midnight.astimezone(UTC)
                else:
                    hi = datetime.combine(day, close_at, self.zone).astimezone(UTC)
                intervals.append((lo, hi))
        if len(self._days) >= DAY_CACHE:
            self._days.clear()  # a bound; a backfill over years walks many days once
        result = self._days[day] = tuple(intervals)
        return result

    def business_seconds(self, start: datetime, end: datetime) -> float:
        return sum((hi - lo).total_seconds() for lo, hi in self.open_intervals(start, end))

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime | None:
        """The moment `seconds` of opening time after `start`; None if never (no hours)."""
        return self.add_business_seconds_each(start, (seconds,))[0]

    def add_business_seconds_each(
        self, start: datetime, amounts: Sequence[float]
    ) -> list[datetime | None]:
        """`add_business_seconds` for several amounts from one start in one walk over the
        opening hours (a new mention's at-risk and due times: bench/ingest_bench.py)."""
        found: list[datetime | None] = [start if s <= 0 else None for s in amounts]
        remaining = {i: float(s) for i, s in enumerate(amounts) if s > 0}
        window = start
        for _ in range(MAX_DAYS_WALKED // 30):
            if not remaining:
                break
            stop = window + timedelta(days=30)
            for lo, hi in self.open_intervals(window, stop):
                length = (hi - lo).total_seconds()
                for i, left in list(remaining.items()):
                    if length >= left:
                        found[i] = lo + timedelta(seconds=left)
                        del remaining[i]
                    else:
                        remaining[i] = left - length
                if not remaining:
                    break
            window = stop
        return found

    def response_seconds(self, created: datetime, answered: datetime) -> float:
        """Business TTFR. A mention posted and answered with no opening time between gets
        its full calendar time: it was answered, and zero would flatter the team."""
        calendar = max(0.0, (answered - created).total_seconds())
        business = self.business_seconds(created, answered)
        return business if business > 0 else calendar


@lru_cache(maxsize=64)
def country_holidays(country: str, subdivision: str | None) -> object:
    """The `holidays` package's calendar for a country (and region), expanding lazily."""
    import holidays

    return holidays.country_holidays(country, subdiv=subdivision)
