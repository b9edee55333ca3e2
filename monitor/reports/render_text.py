"""The report as plain-text tables for a terminal: median first, then p90, mean and count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connectors.durations import format_duration
from monitor.reports.query import BUCKETS, SENTIMENTS, GroupStats, Report

_BUSINESS = ("biz median", "biz p90", "biz mean", "SLA compliance")


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def when(value: datetime, report: Report) -> str:
    return value.astimezone(report.window.tz).strftime("%Y-%m-%d %H:%M")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers, two spaces between columns."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _rows(report: Report) -> list[GroupStats]:
    return [*report.groups, report.total] if len(report.groups) != 1 else report.groups


def render_text(report: Report) -> str:
    window, now = report.window, report.window.now
    rows = _rows(report)
    out = [
        f"{report.title}: mentions created {when(window.since, report)} to "
        f"{when(window.until, report)} ({window.tz.key}), by {report.by}",
        "",
        "Time to first response (median first; calendar time, then business hours: biz;"
        " not exact: answered from a thread not read in full, TTFR an upper bound, <=)",
    ]
    out += table(
        [
            report.by,
            "mentions",
            "expect reply",
            "answered",
            "not exact",
            "reply rate",
            "median",
            "p90",
            "mean",
            *_BUSINESS,
        ],
        [
            [
                g.group,
                str(g.mentions),
                str(g.expecting_reply),
                str(g.answered),
                str(g.ttfr_not_exact),
                percent(g.reply_rate),
                format_duration(g.ttfr.median),
                format_duration(g.ttfr.p90),
                format_duration(g.ttfr.mean),
                format_duration(g.ttfr_business.median),
                format_duration(g.ttfr_business.p90),
                format_duration(g.ttfr_business.mean),
                percent(g.sla_rate),
            ]
            for g in rows
        ],
    )
    out += [
        "",
        "Backlog and outcomes (open now: past SLA, not yet due, no SLA clock (backfill);"
        " handled off-platform and dismissed: not in the reply rate; surveys expect no reply)",
    ]
    out += table(
        [
            report.by,
            "open",
            "past SLA",
            "not yet due",
            "no clock",
            "oldest open",
            "expired",
            "handled",
            "dismissed",
            "surveys",
        ],
        [
            [
                g.group,
                str(g.open),
                str(g.open_past_sla),
                str(g.open_not_due),
                str(g.open_no_clock),
                format_duration(g.oldest_open_age(now)),
                str(g.expired),
                str(g.handled),
                str(g.dismissed),
                str(g.surveys),
            ]
            for g in rows
        ],
    )
    out += ["", "Sentiment mix and TTFR histogram (calendar, answered mentions)"]
    out += table(
        [report.by, *SENTIMENTS, *(label for label, _, _ in BUCKETS)],
        [
            [g.group, *(str(g.sentiment.get(s, 0)) for s in SENTIMENTS), *map(str, g.buckets)]
            for g in rows
        ],
    )
    rated = [g for g in rows if g.rating_count or g.nps_responses]
    if rated:
        out += ["", "Star ratings and Net Promoter Score"]
        out += table(
            [report.by, "ratings", "average", "1*", "2*", "3*", "4*", "5*", "scores", "NPS"],
            [
                [
                    g.group,
                    str(g.rating_count),
                    "-" if g.rating_mean is None else f"{g.rating_mean:.2f}",
                    *map(str, g.ratings),
                    str(g.nps_responses),
                    "-" if g.nps is None else f"{g.nps:+.0f}",
                ]
                for g in rated
            ],
        )
    if report.slowest:
        out += ["", "Slowest open mentions (still waiting)"]
        out += table(
            ["age", "platform", "author", "link"],
            [
                [
                    format_duration((now - m.created_at).total_seconds()),
                    m.platform,
                    (m.author or "?")[:30],
                    m.url or "-",
                ]
                for m in report.slowest
            ],
        )
    return "\n".join(out) + "\n"
