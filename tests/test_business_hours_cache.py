"""The remembered opening hours per local day give exactly the times computed afresh."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from monitor import business_hours
from monitor.business_hours import BusinessCalendar


def calendar() -> BusinessCalendar:
    weekly = {d: [(time(9), time(12)), (time(13), time.max)] for d in ("mon", "tue", "fri")}
    weekly["sat"] = [(time(10), time(14))]
    return BusinessCalendar("Europe/Amsterdam", weekly, holidays=[date(2026, 3, 30)])


def test_cached_days_match_fresh_ones_across_dst_and_a_holiday() -> None:
    warm = calendar()
    start = datetime(2026, 3, 20, 7, 30, tzinfo=UTC)  # DST starts 29 March in Amsterdam
    for hours in range(0, 24 * 20, 5):
        at = start + timedelta(hours=hours)
        for seconds in (1.0, 3600.0, 8 * 3600.0, 3 * 86400.0):
            assert warm.add_business_seconds(at, seconds) == calendar().add_business_seconds(
                at, seconds
            )
        end = at + timedelta(days=2, minutes=17)
        assert list(warm.open_intervals(at, end)) == list(calendar().open_intervals(at, end))
    # 31 March (Tuesday, after DST) opens at 07:00 UTC; 30 March is a holiday
    monday = list(
        calendar().open_intervals(
            datetime(2026, 3, 30, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
        )
    )
    assert monday[0] == (
        datetime(2026, 3, 31, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 10, 0, tzinfo=UTC),
    )


def test_the_day_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(business_hours, "DAY_CACHE", 10)
    cal = calendar()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert cal.business_seconds(start, start + timedelta(days=365)) > 0
    assert len(cal._days) <= 10
