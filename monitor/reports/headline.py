"""The four headline numbers a manager reads first, each with its change on the period before."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from connectors.durations import format_duration
from monitor.reports.query import GroupStats, Report


class Trend(StrEnum):
    """How the number moved against the period before, for a manager (also the CSS class)."""

    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    NONE = "none"  # no value in one of the two periods


@dataclass(frozen=True)
class Tile:
    key: str  # median_ttfr | sla_compliance | reply_rate | open_backlog
    label: str
    value: str
    change: str  # against the period of the same length just before
    trend: Trend
    detail: str


def period_name(report: Report) -> str:
    """ "previous 7 days", or the duration when the range is not whole days."""
    seconds = (report.window.until - report.window.since).total_seconds()
    days, rest = divmod(seconds, 86400)
    if not rest and days:
        return f"previous {int(days)} day{'s' if days != 1 else ''}"
    return f"previous {format_duration(seconds)}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _trend(now: float, before: float, higher_is_better: bool) -> Trend:
    if now == before:
        return Trend.SAME
    return Trend.BETTER if (now > before) == higher_is_better else Trend.WORSE


def _rate_tile(
    key: str,
    label: str,
    pick: Callable[[GroupStats], float | None],
    this: GroupStats,
    before: GroupStats | None,
    name: str,
    detail: str,
) -> Tile:
    now, was = pick(this), pick(before) if before is not None else None
    trend = Trend.NONE
    if now is None or was is None:
        change = f"{name}: {_percent(was)}"
    else:
        points = round(100 * now) - round(100 * was)
        change = f"{points:+d} pts on the {name} ({_percent(was)})"
        trend = _trend(round(100 * now), round(100 * was), higher_is_better=True)
    return Tile(key, label, _percent(now), change, trend, detail)


def headline_tiles(report: Report) -> list[Tile]:
    """Median TTFR, SLA compliance, reply rate and open backlog, in the order managers read
    them in Zendesk Explore or Sprout; `report.previous` is the period of the same length
    just before (None: the change is not shown)."""
    this, before, name = report.total, report.previous, period_name(report)
    median, was = this.ttfr.median, before.ttfr.median if before else None
    ttfr_trend = Trend.NONE
    if median is None or was is None:
        ttfr_change = f"{name}: {format_duration(was)}"
    else:
        ttfr_trend = _trend(round(median), round(was), higher_is_better=False)
        word = {Trend.BETTER: "faster", Trend.WORSE: "slower"}.get(ttfr_trend, "the same")
        ttfr_change = f"{word} than the {name} ({format_duration(was)})"
    tiles = [
        Tile(
            "median_ttfr",
            "Median time to first response",
            format_duration(median),
            ttfr_change,
            ttfr_trend,
            f"p90 {format_duration(this.ttfr.p90)}, business hours "
            f"{format_duration(this.ttfr_business.median)}, {this.answered} answered"
            + (f", {this.ttfr_not_exact} not exact (≤)" if this.ttfr_not_exact else ""),
        ),
        _rate_tile(
            "sla_compliance",
            "SLA compliance",
            lambda g: g.sla_rate,
            this,
            before,
            name,
            f"{this.sla_met} of {this.sla_judged} within target; "
            f"{this.open_not_due} open not yet due",
        ),
        _rate_tile(
            "reply_rate",
            "Reply rate",
            lambda g: g.reply_rate,
            this,
            before,
            name,
            f"{this.answered} answered of {this.expecting_reply} expecting a reply",
        ),
    ]
    backlog_change, backlog_trend = "", Trend.NONE
    if before is not None:
        difference = this.open - before.open
        backlog_change = f"{difference:+d} on the {name} ({before.open})"
        backlog_trend = _trend(this.open, before.open, higher_is_better=False)
    tiles.append(
        Tile(
            "open_backlog",
            "Open backlog",
            str(this.open),
            backlog_change,
            backlog_trend,
            f"{this.open_past_sla} past SLA, {this.open_not_due} not yet due"
            + (f", {this.open_no_clock} history without a clock" if this.open_no_clock else ""),
        )
    )
    return tiles
