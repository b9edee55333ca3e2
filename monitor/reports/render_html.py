"""The report as one self-contained HTML file: tables plus matplotlib charts embedded as SVG."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.durations import format_duration
from monitor.reports.query import BUCKETS, SENTIMENTS, GroupStats, Report
from monitor.reports.render_text import percent

SENTIMENT_COLOURS = {
    "negative": "#d62728",
    "neutral": "#9e9e9e",
    "positive": "#2ca02c",
    "unscored": "#ffbf00",
}
CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { white-space: nowrap; padding: .25em .6em; border-bottom: 1px solid #ddd; }
th, td { text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.total td { font-weight: 600; border-top: 2px solid #888; }
figure.chart { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; }
figure.chart img { width: 520px; height: auto; }
figcaption { font-size: .9em; color: #555; }
.muted { color: #777; }
"""


def _matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise RuntimeError(
            "the HTML report draws its charts with matplotlib: "
            "pip install -e '.[reports]' in the monitor's checkout (or pip install matplotlib)"
        ) from None
    return Figure


def _svg(draw: Callable[[Any], None]) -> str:
    """Draw on a fresh figure; return it as an SVG data URI (text drawn as paths: no fonts)."""
    figure = _matplotlib()(figsize=(6.5, 3.4), layout="constrained")
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _hours(seconds: float | None) -> float:
    return float("nan") if seconds is None else seconds / 3600


def _weeks_axis(ax: Any, weeks: list[GroupStats]) -> list[int]:
    """Positions for the weeks, labelled MM-DD of each week's Monday."""
    positions = list(range(len(weeks)))
    ax.set_xticks(positions, [w.group[5:] for w in weeks], rotation=45)
    ax.set_xlabel("week starting")
    return positions


def chart_ttfr_over_time(report: Report) -> str:
    weeks = report.weekly

    def draw(ax: Any) -> None:
        x = _weeks_axis(ax, weeks)
        ax.plot(x, [_hours(w.ttfr.median) for w in weeks], marker="o", label="median")
        ax.plot(x, [_hours(w.ttfr.p90) for w in weeks], marker="o", label="p90")
        ax.plot(
            x,
            [_hours(w.ttfr_business.median) for w in weeks],
            linestyle="--",
            label="median (business hours)",
        )
        ax.set_ylabel("hours to first response")
        ax.legend(fontsize="small")

    return _svg(draw)


def chart_platforms(report: Report) -> str:
    platforms = report.platforms

    def draw(ax: Any) -> None:
        names = [p.group for p in platforms]
        positions = range(len(names))
        rate = [100 * (p.reply_rate or 0) for p in platforms]
        sla = [100 * (p.sla_rate or 0) for p in platforms]
        ax.bar([i - 0.2 for i in positions], rate, width=0.4, label="reply rate")
        ax.bar([i + 0.2 for i in positions], sla, width=0.4, label="within SLA")
        ax.set_xticks(list(positions), names, rotation=30, ha="right")
        ax.set_ylim(0, 105)
        ax.set_ylabel("%")
        ax.legend(fontsize="small")

    return _svg(draw)


def chart_sentiment(report: Report) -> str:
    weeks = report.weekly

    def draw(ax: Any) -> None:
        x = _weeks_axis(ax, weeks)
        bottom = [0] * len(weeks)
        for label in SENTIMENTS:
            values = [w.sentiment.get(label, 0) for w in weeks]
            ax.bar(x, values, bottom=bottom, label=label, color=SENTIMENT_COLOURS[label])
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
        ax.set_ylabel("mentions")
        ax.legend(fontsize="small")

    return _svg(draw)


def chart_histogram(report: Report) -> str:
    def draw(ax: Any) -> None:
        positions = list(range(len(BUCKETS)))
        ax.bar(positions, report.total.buckets, color="#1f77b4")
        ax.set_xticks(positions, [label for label, _, _ in BUCKETS])
        ax.set_ylabel("answered mentions")
        ax.set_xlabel("time to first response (calendar)")

    return _svg(draw)


def chart_ratings(report: Report) -> str:
    def draw(ax: Any) -> None:
        ax.bar(list(range(1, 6)), report.total.ratings, color="#ff7f0e")
        ax.set_xticks(list(range(1, 6)))
        ax.set_xlabel("stars")
        ax.set_ylabel("reviews")

    return _svg(draw)


def chart_nps(report: Report) -> str:
    weeks = report.weekly

    def draw(ax: Any) -> None:
        ax.plot(_weeks_axis(ax, weeks), [_nps(w) for w in weeks], marker="o", color="#9467bd")
        ax.axhline(0, color="#999", linewidth=0.8)
        ax.set_ylim(-100, 100)
        ax.set_ylabel("Net Promoter Score")

    return _svg(draw)


def _nps(stats: GroupStats) -> float:
    return float("nan") if stats.nps is None else stats.nps


def charts(report: Report) -> list[tuple[str, str, str]]:
    """(id, caption, data URI) of every chart this report has data for."""
    out = [
        ("ttfr", "Time to first response per week: median and p90", chart_ttfr_over_time(report)),
        ("platforms", "Reply rate and SLA compliance per platform", chart_platforms(report)),
        ("sentiment", "Mentions per week by sentiment", chart_sentiment(report)),
        ("histogram", "Time to first response, answered mentions", chart_histogram(report)),
    ]
    if report.total.rating_count:
        out.append(("ratings", "Star ratings", chart_ratings(report)))
    if report.total.nps_responses:
        out.append(("nps", "Net Promoter Score per week", chart_nps(report)))
    return out


def _cell(value: object) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def _group_table(
    report: Report, headers: list[str], cells: Callable[[GroupStats], list[object]]
) -> str:
    lines = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in [report.by, *headers])]
    lines.append("</tr></thead><tbody>")
    for stats in [*report.groups, report.total]:
        css = ' class="total"' if stats is report.total else ""
        row = [stats.group, *cells(stats)]
        lines.append(f"<tr{css}>" + "".join(_cell(c) for c in row) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _times_table(report: Report) -> str:
    headers = ["mentions", "answered", "reply rate", "median", "p90", "mean"]
    headers += ["median (business)", "p90 (business)", "mean (business)", "within SLA"]
    return _group_table(
        report,
        headers,
        lambda g: [
            g.mentions,
            g.answered,
            percent(g.reply_rate),
            format_duration(g.ttfr.median),
            format_duration(g.ttfr.p90),
            format_duration(g.ttfr.mean),
            format_duration(g.ttfr_business.median),
            format_duration(g.ttfr_business.p90),
            format_duration(g.ttfr_business.mean),
            percent(g.sla_rate),
        ],
    )


def _backlog_table(report: Report) -> str:
    now = report.window.now
    headers = ["open", "past SLA", "oldest open", "expired", "handled", "dismissed"]
    headers += [*SENTIMENTS, *(label for label, _, _ in BUCKETS)]
    return _group_table(
        report,
        headers,
        lambda g: [
            g.open,
            g.open_past_sla,
            format_duration(g.oldest_open_age(now)),
            g.expired,
            g.handled,
            g.dismissed,
            *(g.sentiment.get(s, 0) for s in SENTIMENTS),
            *g.buckets,
        ],
    )


def _safe_link(url: str | None) -> str:
    if url and url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(url)}" rel="noopener noreferrer">{html.escape(url)}</a>'
    return '<span class="muted">no link</span>'


def _slowest_table(report: Report) -> str:
    if not report.slowest:
        return "<p>Nothing is waiting for an answer.</p>"
    now = report.window.now
    rows = []
    for m in report.slowest:
        text = " ".join(m.text.split())[:140]
        rows.append(
            "<tr>"
            + _cell(format_duration((now - m.created_at).total_seconds()))
            + _cell(m.platform)
            + _cell(m.sentiment)
            + _cell(m.author or "?")
            + f'<td style="text-align:left">{html.escape(text)}</td>'
            + f"<td>{_safe_link(m.url)}</td></tr>"
        )
    head = "<tr><th>waiting</th><th>platform</th><th>sentiment</th><th>author</th>"
    head += "<th>text</th><th>link</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _ratings_table(report: Report) -> str:
    rated = [g for g in [*report.groups, report.total] if g.rating_count or g.nps_responses]
    if not rated:
        return ""
    lines = [
        "<h2>Star ratings and Net Promoter Score</h2><table><thead><tr>"
        f"<th>{html.escape(report.by)}</th><th>ratings</th><th>average</th>"
        "<th>1★</th><th>2★</th><th>3★</th><th>4★</th><th>5★</th>"
        "<th>scores</th><th>promoters</th><th>passives</th><th>detractors</th><th>NPS</th>"
        "</tr></thead><tbody>"
    ]
    for g in rated:
        cells = [
            g.group,
            g.rating_count,
            "-" if g.rating_mean is None else f"{g.rating_mean:.2f}",
            *g.ratings,
            g.nps_responses,
            g.promoters,
            g.passives,
            g.detractors,
            "-" if g.nps is None else f"{g.nps:+.0f}",
        ]
        lines.append("<tr>" + "".join(_cell(c) for c in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _when(value: datetime, report: Report) -> str:
    return value.astimezone(report.window.tz).strftime("%Y-%m-%d %H:%M")


def render_html(report: Report) -> str:
    """Needs `report` built with charts=True (weekly and per-platform series)."""
    window = report.window
    title = html.escape(report.title)
    figures = "\n".join(
        f'<figure class="chart" id="chart-{key}" data-chart="{key}">'
        f'<img src="{uri}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for key, caption, uri in charts(report)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{CSS}</style></head>
<body>
<h1>{title}</h1>
<p>Mentions created from {_when(window.since, report)} to {_when(window.until, report)}
({html.escape(window.tz.key)}), grouped by {html.escape(report.by)}; generated
{_when(window.now, report)}. Median comes first; p90 is interpolated between ranks.
Reply rate = answered / (answered + open past their SLA + expired); dismissed mentions are
left out, handled ones were answered outside the platforms.</p>
<h2>Response times</h2>
{_times_table(report)}
<h2>Backlog, outcomes, sentiment and TTFR histogram</h2>
{_backlog_table(report)}
<h2>Charts</h2>
{figures}
{_ratings_table(report)}
<h2>Slowest open mentions</h2>
{_slowest_table(report)}
</body></html>
"""
