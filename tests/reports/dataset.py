"""A small known data set whose report numbers are worked out by hand in the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from monitor.store.db import session
from monitor.store.models import Mention

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
SINCE = datetime(2026, 11, 2, tzinfo=UTC)  # three weeks: 11-02 (empty), 11-09, 11-16
UNTIL = datetime(2026, 11, 23, tzinfo=UTC)
WEEK2 = datetime(2026, 11, 9, 12, 0, tzinfo=UTC)
WEEK3 = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
H = 3600.0

_counter = 0


def mention(platform: str, created_at: datetime, **fields: Any) -> Mention:
    global _counter
    _counter += 1
    values: dict[str, Any] = {
        "platform": platform,
        "feed": f"{platform}-feed",
        "external_id": f"{platform}-{_counter}",
        "url": f"https://{platform}.example/{_counter}",
        "author": f"customer{_counter}",
        "text": "text",
        "created_at": created_at,
        "fetched_at": created_at,
        "language": "en",
        "sentiment": "neutral",
        "status": "open",
        **fields,
    }
    if values.get("ttfr_seconds") is not None:
        values["status"] = fields.get("status", "answered")
        values["first_response_at"] = created_at + timedelta(seconds=values["ttfr_seconds"])
    return Mention(**values)


def answered(
    platform: str, at: datetime, calendar: float, business: float, met: bool, **kw: Any
) -> Mention:
    return mention(
        platform, at, ttfr_seconds=calendar, ttfr_business_seconds=business, sla_met=met, **kw
    )


def known_mentions() -> list[Mention]:
    """
    reddit (week 11-09), odd count of answers: 600 / 1800 / 7200 s calendar,
    600 / 1800 / 3600 s business, SLA met twice; plus open past due, open on time,
    expired, dismissed, handled.
    trustpilot (week 11-16), even count with ties: 3600 x3 and 90000 s calendar,
    3600 x3 and 28800 s business; ratings 1, 5, 5, 4; SLA met 3 of 4.
    survey (week 11-16), no answers at all: scores 10, 9, 9, 8, 3 (NPS +40).
    Outside the window: one before `since`, one exactly at `until` (exclusive).
    """
    reddit = [
        answered("reddit", WEEK2, 600, 600, True, sentiment="negative"),
        answered("reddit", WEEK2 + timedelta(hours=1), 1800, 1800, True, sentiment="negative"),
        answered("reddit", WEEK2 + timedelta(hours=2), 7200, 3600, False, language=None),
        mention("reddit", WEEK2 - timedelta(hours=3), sla_due_at=WEEK2, sentiment="positive"),
        mention("reddit", WEEK2 + timedelta(hours=5), sla_due_at=NOW + timedelta(hours=1)),
        mention("reddit", WEEK2, status="expired", sentiment="unscored", language="nl"),
        mention("reddit", WEEK2, status="dismissed", sentiment="unscored", language="nl"),
        mention("reddit", WEEK2, status="handled"),
    ]
    trustpilot = [
        answered("trustpilot", WEEK3, 3600, 3600, True, rating=1, sentiment="negative"),
        answered("trustpilot", WEEK3, 3600, 3600, True, rating=5, sentiment="positive"),
        answered("trustpilot", WEEK3, 3600, 3600, True, rating=5, sentiment="positive"),
        answered("trustpilot", WEEK3, 90000, 28800, False, rating=4, sentiment="positive"),
    ]
    survey = [
        mention("survey", WEEK3 + timedelta(minutes=i), score=score, language="und")
        for i, score in enumerate((10, 9, 9, 8, 3))
    ]
    outside = [
        answered("reddit", SINCE - timedelta(seconds=1), 5, 5, True),
        answered("reddit", UNTIL, 5, 5, True),
    ]
    return reddit + trustpilot + survey + outside


def load(engine: Engine, mentions: list[Mention] | None = None) -> None:
    with session(engine) as s:
        s.add_all(known_mentions() if mentions is None else mentions)
        s.commit()
