"""One walk over the opening hours for several amounts gives exactly what separate walks give."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from monitor.business_hours import MAX_DAYS_WALKED, BusinessCalendar


def calendar(weekly: dict[str, list[tuple[time, time]]] | None = None) -> BusinessCalendar:
    if weekly is None:
        weekly = {d: [(time(9), time(12)), (time(13), time.max)] for d in ("mon", "tue", "fri")}
        weekly["sat"] = [(time(10), time(14))]
    return BusinessCalendar("Europe/Amsterdam", weekly, holidays=[date(2026, 3, 30)])


def one_walk(cal: BusinessCalendar, start: datetime, seconds: float) -> datetime | None:
    """The walk for one amount as it was written before the shared walk (the reference)."""
    if seconds <= 0:
        return start
    remaining = seconds
    window = start
    for _ in range(MAX_DAYS_WALKED // 30):
        stop = window + timedelta(days=30)
        for lo, hi in cal.open_intervals(window, stop):
            length = (hi - lo).total_seconds()
            if length >= remaining:
                return lo + timedelta(seconds=remaining)
            remaining -= length
        window = stop
    return None


def test_several_amounts_in_one_walk_match_one_walk_each_across_dst_and_a_holiday() -> None:
    cal = calendar()
    start = datetime(2026, 3, 20, 7, 30, tzinfo=UTC)  # DST starts 29 March in Amsterdam
    amounts = (0.0, -5.0, 1.0, 0.8 * 3600, 3600, 3 * 3600.0, 3 * 3600.0, 5 * 86400.0, 45 * 86400.0)
    for hours in range(0, 24 * 20, 5):
        at = start + timedelta(hours=hours, seconds=0.25)
        assert cal.add_business_seconds_each(at, amounts) == [
            one_walk(calendar(), at, s) for s in amounts
        ]
        assert cal.add_business_seconds(at, 7200.0) == one_walk(calendar(), at, 7200.0)


def test_a_calendar_without_opening_hours_never_reaches_any_amount() -> None:
    at = datetime(2026, 3, 20, 7, 30, tzinfo=UTC)
    assert calendar({}).add_business_seconds_each(at, (0.0, 60.0, 3600.0)) == [at, None, None]
