"""The report as CSV (one row per group and period) and JSON, with columns named in COLUMNS."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from monitor.reports.query import BUCKETS, SENTIMENTS, GroupStats, OpenMention, Report

SCHEMA = "monitor.report/3"
_BUCKET_NAMES = ("0_1h", "1_4h", "4_8h", "8_24h", "over_24h")
assert len(_BUCKET_NAMES) == len(BUCKETS)

# The stable column list; docs/reports.md explains each one. Durations are in seconds.
COLUMNS: tuple[str, ...] = (
    "period_start",
    "period_end",
    "dimension",
    "group",
    "mentions",
    "answered",
    "handled",
    "dismissed",
    "expired",
    "open",
    "open_past_sla",
    "reply_rate",
    "ttfr_median_s",
    "ttfr_p90_s",
    "ttfr_mean_s",
    "ttfr_business_median_s",
    "ttfr_business_p90_s",
    "ttfr_business_mean_s",
    "sla_met",
    "sla_rate",
    "oldest_open_at",
    "oldest_open_age_s",
    *(f"sentiment_{s}" for s in SENTIMENTS),
    *(f"ttfr_{name}" for name in _BUCKET_NAMES),
    "rating_count",
    "rating_mean",
    *(f"rating_{stars}" for stars in range(1, 6)),
    "nps_responses",
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
    "nps",
    # added in monitor.report/2, at the end so that positional readers keep working
    "surveys",
    "expecting_reply",
    "open_not_due",
    "open_no_clock",
    "sla_answered",
    "sla_expired",
    "sla_judged",
    # added in monitor.report/3, at the end as well
    "ttfr_not_exact",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def row(stats: GroupStats, dimension: str, now: datetime) -> dict[str, Any]:
    """One group over one period, as flat values keyed by COLUMNS."""
    values: dict[str, Any] = {
        "period_start": _iso(stats.period_start),
        "period_end": _iso(stats.period_end),
        "dimension": dimension,
        "group": stats.group,
        "mentions": stats.mentions,
        "answered": stats.answered,
        "handled": stats.handled,
        "dismissed": stats.dismissed,
        "expired": stats.expired,
        "open": stats.open,
        "open_past_sla": stats.open_past_sla,
        "reply_rate": _round(stats.reply_rate),
        "ttfr_median_s": _round(stats.ttfr.median, 1),
        "ttfr_p90_s": _round(stats.ttfr.p90, 1),
        "ttfr_mean_s": _round(stats.ttfr.mean, 1),
        "ttfr_business_median_s": _round(stats.ttfr_business.median, 1),
        "ttfr_business_p90_s": _round(stats.ttfr_business.p90, 1),
        "ttfr_business_mean_s": _round(stats.ttfr_business.mean, 1),
        "sla_met": stats.sla_met,
        "sla_rate": _round(stats.sla_rate),
        "oldest_open_at": _iso(stats.oldest_open_at),
        "oldest_open_age_s": _round(stats.oldest_open_age(now), 1),
        "rating_count": stats.rating_count,
        "rating_mean": _round(stats.rating_mean, 3),
        "nps_responses": stats.nps_responses,
        "nps_promoters": stats.promoters,
        "nps_passives": stats.passives,
        "nps_detractors": stats.detractors,
        "nps": _round(stats.nps, 1),
        "surveys": stats.surveys,
        "expecting_reply": stats.expecting_reply,
        "open_not_due": stats.open_not_due,
        "open_no_clock": stats.open_no_clock,
        "sla_answered": stats.sla_answered,
        "sla_expired": stats.sla_expired,
        "sla_judged": stats.sla_judged,
        "ttfr_not_exact": stats.ttfr_not_exact,
    }
    values.update({f"sentiment_{s}": stats.sentiment.get(s, 0) for s in SENTIMENTS})
    values.update({f"ttfr_{n}": c for n, c in zip(_BUCKET_NAMES, stats.buckets, strict=True)})
    values.update({f"rating_{i + 1}": c for i, c in enumerate(stats.ratings)})
    return {column: values[column] for column in COLUMNS}


def rows(report: Report) -> list[dict[str, Any]]:
    """The chosen groups, then the total (dimension `all`)."""
    now = report.window.now
    return [*(row(g, report.by, now) for g in report.groups), row(report.total, "all", now)]


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(report))
    return buffer.getvalue()


def _slowest(mention: OpenMention, now: datetime) -> dict[str, Any]:
    return {
        "id": mention.id,
        "platform": mention.platform,
        "feed": mention.feed,
        "created_at": _iso(mention.created_at),
        "age_s": round((now - mention.created_at).total_seconds(), 1),
        "sentiment": mention.sentiment,
        "author": mention.author,
        "url": mention.url,
    }


def to_json(report: Report) -> dict[str, Any]:
    window, now = report.window, report.window.now
    return {
        "schema": SCHEMA,
        "title": report.title,
        "generated_at": _iso(now),
        "since": _iso(window.since),
        "until": _iso(window.until),
        "timezone": window.tz.key,
        "by": report.by,
        "columns": list(COLUMNS),
        "groups": [row(g, report.by, now) for g in report.groups],
        "total": row(report.total, "all", now),
        # the same numbers for the period of the same length just before (--since .. --until)
        "previous": None if report.previous is None else row(report.previous, "all", now),
        "weekly": [row(g, "week", now) for g in report.weekly],
        "slowest_open": [_slowest(m, now) for m in report.slowest],
    }


def render_json(report: Report) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"
