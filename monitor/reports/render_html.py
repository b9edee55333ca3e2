"""The report as one self-contained HTML file: tables plus matplotlib charts embedded as SVG."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connectors.durations import format_duration
from monitor.reports.headline import Tile, headline_tiles, period_name
from monitor.reports.query import BUCKETS, SENTIMENTS, GroupStats, Report, week_label
from monitor.reports.render_text import percent
from monitor.states import SentimentLabel

SENTIMENT_COLOURS = {
    SentimentLabel.NEGATIVE: "#d62728",
    SentimentLabel.NEUTRAL: "#9e9e9e",
    SentimentLabel.POSITIVE: "#2ca02c",
    SentimentLabel.UNSCORED: "#ffbf00",
}
# Wide tables scroll inside their own box, so the page itself never scrolls sideways (checked
# in headless Chromium at 1280 and 390 px by tests/reports/test_html.py).
CSS = """
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 1.5em 1em;
       max-width: 1140px; color: #222; }
h1 { font-size: 1.5em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin-top: 2em; }
.period { color: #555; margin: 0 0 1.2em; }
.tiles { display: grid; gap: .8em; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); }
.tile { border: 1px solid #ddd; border-radius: 8px; padding: .8em 1em; background: #fafafa; }
.tile .label { color: #555; font-size: .9em; }
.tile .value { font-size: 2em; font-weight: 600; line-height: 1.2; }
.tile .change { font-size: .9em; } .tile .detail { color: #666; font-size: .85em; }
.better { color: #1a7f37; } .worse { color: #c62828; } .same { color: #555; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { white-space: nowrap; padding: .25em .5em; border-bottom: 1px solid #ddd; }
th, td { text-align: right; } th { white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; white-space: normal; min-width: 16em; max-width: 32em; }
tr.total td { font-weight: 600; border-top: 2px solid #888; }
.charts { display: grid; gap: 1em;
          grid-template-columns: repeat(auto-fit, minmax(min(100%, 460px), 1fr)); }
figure.chart { margin: 0; min-width: 0; }
figure.chart img { display: block; width: 100%; height: auto; }
figcaption { font-size: .9em; color: #555; }
.muted { color: #777; } .note { color: #555; font-size: .9em; }
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


def figure(draw: Callable[[Any, Any], None], height: float = 3.4) -> Any:
    """A fresh figure with one axes, drawn by `draw(figure, axes)`."""
    made = _matplotlib()(figsize=(6.5, height), layout="constrained")
    draw(made, made.add_subplot())
    return made


def svg_uri(made: Any) -> str:
    """The figure as an SVG data URI (text drawn as paths: no fonts to fetch)."""
    buffer = io.BytesIO()
    made.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _legend_below(made: Any, columns: int) -> None:
    """Outside the plot, under it: a legend inside the axes covered the data."""
    made.legend(loc="outside lower center", ncols=columns, fontsize="small", frameon=False)


def _whole_numbers(ax: Any) -> None:
    """Counts get whole-number ticks (no 2.5 mentions)."""
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _hours(seconds: float | None) -> float:
    return float("nan") if seconds is None else seconds / 3600


def _week_series(report: Report) -> list[tuple[datetime, GroupStats | None]]:
    """Every week of the range, None where it had no mentions: the charts keep a true time
    axis although the report's rows leave empty weeks out."""
    found = {w.group: w for w in report.weekly}
    tz = report.window.tz
    return [(start, found.get(week_label(start, tz))) for start, _ in report.window.weeks()]


def _dates_axis(ax: Any, report: Report) -> None:
    """Mondays labelled when there are few weeks; months or years over a long range."""
    from matplotlib.dates import MO, AutoDateLocator, ConciseDateFormatter, WeekdayLocator

    weeks = report.window.weeks()
    locator: Any = AutoDateLocator(minticks=3, maxticks=8)
    if len(weeks) <= 10:
        locator = WeekdayLocator(byweekday=MO)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlim(
        _local(weeks[0][0], report) - timedelta(days=1),
        _local(weeks[-1][0], report) + timedelta(days=8),
    )
    ax.set_xlabel("week starting")


def _local(value: datetime, report: Report) -> datetime:
    return value.astimezone(report.window.tz).replace(tzinfo=None)


def _middles(report: Report, series: list[tuple[datetime, GroupStats | None]]) -> list[datetime]:
    """Each week's point in the middle of its week, where its bar stands."""
    return [_local(start, report) + timedelta(days=3.5) for start, _ in series]


def chart_ttfr_over_time(report: Report) -> Any:
    series = _week_series(report)
    x = _middles(report, series)

    def values(pick: Callable[[GroupStats], float | None]) -> list[float]:
        return [_hours(pick(w)) if w else float("nan") for _, w in series]

    def draw(made: Any, ax: Any) -> None:
        ax.plot(x, values(lambda w: w.ttfr.median), marker="o", label="median")
        ax.plot(x, values(lambda w: w.ttfr.p90), marker="o", label="p90")
        ax.plot(
            x,
            values(lambda w: w.ttfr_business.median),
            marker=".",
            linestyle="--",
            label="median (business hours)",
        )
        ax.set_ylim(bottom=0)
        ax.set_ylabel("hours to first response")
        _dates_axis(ax, report)
        _legend_below(made, 3)

    return figure(draw)


def chart_platforms(report: Report) -> Any:
    """Horizontal bars with their value written at the end: a 0 % bar reads "0%", a platform
    with nothing to judge reads "n/a" (an empty bar looked the same as a missing one)."""
    platforms = list(reversed(report.platforms))  # the busiest on top

    def draw(made: Any, ax: Any) -> None:
        positions = list(range(len(platforms)))
        pick: Callable[[GroupStats], float | None]
        for offset, name, pick, colour in (
            (0.2, "reply rate", lambda p: p.reply_rate, "#1f77b4"),
            (-0.2, "SLA compliance", lambda p: p.sla_rate, "#ff7f0e"),
        ):
            rates = [pick(p) for p in platforms]
            bars = ax.barh(
                [i + offset for i in positions],
                [100 * (r or 0) for r in rates],
                height=0.4,
                label=name,
                color=colour,
            )
            labels = ["n/a" if r is None else f"{100 * r:.0f}%" for r in rates]
            ax.bar_label(bars, labels=labels, padding=3, fontsize="x-small")
        ax.set_yticks(positions, [p.group for p in platforms])
        ax.set_xlim(0, 118)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("% of mentions")
        _legend_below(made, 2)

    return figure(draw, height=max(3.0, 1.2 + 0.42 * len(platforms)))


def chart_sentiment(report: Report) -> Any:
    series = _week_series(report)
    x = _middles(report, series)

    def draw(made: Any, ax: Any) -> None:
        bottom = [0] * len(series)
        for label in SENTIMENTS:
            values = [w.sentiment.get(label, 0) if w else 0 for _, w in series]
            ax.bar(x, values, bottom=bottom, width=5.5, label=label, color=SENTIMENT_COLOURS[label])
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
        ax.set_ylabel("mentions")
        _whole_numbers(ax)
        _dates_axis(ax, report)
        _legend_below(made, 4)

    return figure(draw)


def chart_histogram(report: Report) -> Any:
    def draw(made: Any, ax: Any) -> None:
        positions = list(range(len(BUCKETS)))
        bars = ax.bar(positions, report.total.buckets, color="#1f77b4")
        ax.bar_label(bars, padding=2, fontsize="x-small")
        ax.set_xticks(positions, [label for label, _, _ in BUCKETS])
        ax.set_ylabel("answered mentions")
        ax.set_xlabel("time to first response (calendar)")
        ax.margins(y=0.12)
        _whole_numbers(ax)

    return figure(draw)


def chart_ratings(report: Report) -> Any:
    def draw(made: Any, ax: Any) -> None:
        bars = ax.bar(list(range(1, 6)), report.total.ratings, color="#ff7f0e")
        ax.bar_label(bars, padding=2, fontsize="x-small")
        ax.set_xticks(list(range(1, 6)), [f"{n}★" for n in range(1, 6)])
        ax.set_xlabel("stars")
        ax.set_ylabel("reviews")
        ax.margins(y=0.12)
        _whole_numbers(ax)

    return figure(draw)


def chart_nps(report: Report) -> Any:
    series = _week_series(report)
    x = _middles(report, series)

    def draw(made: Any, ax: Any) -> None:
        ax.plot(x, [_nps(w) for _, w in series], marker="o", color="#9467bd")
        ax.axhline(0, color="#999", linewidth=0.8)
        ax.set_ylim(-100, 100)
        ax.set_ylabel("Net Promoter Score")
        _dates_axis(ax, report)

    return figure(draw)


def _nps(stats: GroupStats | None) -> float:
    return float("nan") if stats is None or stats.nps is None else stats.nps


def figures(report: Report) -> list[tuple[str, str, Any]]:
    """(id, caption, matplotlib figure) of every chart this report has data for."""
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


def charts(report: Report) -> list[tuple[str, str, str]]:
    """(id, caption, data URI) of every chart this report has data for."""
    return [(key, caption, svg_uri(made)) for key, caption, made in figures(report)]


def _cell(value: object) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def _group_table(
    report: Report, headers: list[str], cells: Callable[[GroupStats], list[object]]
) -> str:
    lines = ['<div class="scroll"><table><thead><tr>']
    lines += [f"<th>{html.escape(h)}</th>" for h in [report.by, *headers]]
    lines.append("</tr></thead><tbody>")
    for stats in [*report.groups, report.total]:
        css = ' class="total"' if stats is report.total else ""
        row = [stats.group, *cells(stats)]
        lines.append(f"<tr{css}>" + "".join(_cell(c) for c in row) + "</tr>")
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _times_table(report: Report) -> str:
    headers = ["mentions", "expect reply", "answered", "not exact (≤)", "reply rate"]
    headers += ["median", "p90", "mean"]
    headers += ["median (business)", "p90 (business)", "mean (business)", "SLA compliance"]
    return _group_table(
        report,
        headers,
        lambda g: [
            g.mentions,
            g.expecting_reply,
            g.answered,
            g.ttfr_not_exact,
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
    headers = ["open", "past SLA", "not yet due", "no clock", "oldest open", "expired"]
    headers += ["handled", "dismissed", "surveys"]
    return _group_table(
        report,
        headers,
        lambda g: [
            g.open,
            g.open_past_sla,
            g.open_not_due,
            g.open_no_clock,
            format_duration(g.oldest_open_age(now)),
            g.expired,
            g.handled,
            g.dismissed,
            g.surveys,
        ],
    )


def _mix_table(report: Report) -> str:
    return _group_table(
        report,
        [*SENTIMENTS, *(label for label, _, _ in BUCKETS)],
        lambda g: [*(g.sentiment.get(s, 0) for s in SENTIMENTS), *g.buckets],
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
            + f'<td class="text">{html.escape(text)}</td>'
            + f"<td>{_safe_link(m.url)}</td></tr>"
        )
    head = "<tr><th>waiting</th><th>platform</th><th>sentiment</th><th>author</th>"
    head += "<th>text</th><th>link</th></tr>"
    return (
        f'<div class="scroll"><table><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _ratings_table(report: Report) -> str:
    rated = [g for g in [*report.groups, report.total] if g.rating_count or g.nps_responses]
    if not rated:
        return ""
    lines = [
        '<h2>Star ratings and Net Promoter Score</h2><div class="scroll"><table><thead><tr>'
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
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _when(value: datetime, report: Report) -> str:
    return value.astimezone(report.window.tz).strftime("%Y-%m-%d %H:%M")


def _tile(tile: Tile) -> str:
    return (
        f'<div class="tile" data-headline="{tile.key}">'
        f'<div class="label">{html.escape(tile.label)}</div>'
        f'<div class="value">{html.escape(tile.value)}</div>'
        f'<div class="change {tile.trend}">{html.escape(tile.change)}</div>'
        f'<div class="detail">{html.escape(tile.detail)}</div></div>'
    )


def render_html(report: Report) -> str:
    """Needs `report` built with charts=True (weekly and per-platform series, previous period)."""
    window = report.window
    title = html.escape(report.title)
    tiles = "\n".join(_tile(t) for t in headline_tiles(report))
    figures_html = "\n".join(
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
<p class="period">Mentions created from {_when(window.since, report)} to
{_when(window.until, report)} ({html.escape(window.tz.key)}), against the
{html.escape(period_name(report))} before; generated {_when(window.now, report)}.</p>
<div class="tiles">
{tiles}
</div>
<h2>Charts</h2>
<div class="charts">
{figures_html}
</div>
<h2>Response times by {html.escape(report.by)}</h2>
<p class="note">Median comes first; p90 is interpolated between ranks. Reply rate = answered /
mentions that expect a public reply (answered, open, expired; whatever their age). SLA
compliance = answered within target / (answered + open past target + expired); open mentions
not yet due are shown apart. Dismissed and handled mentions, survey answers and backfilled
history without an SLA clock are explained in docs/reports.md. Not exact (≤): answered
mentions whose thread was not read in full, so an earlier brand reply may exist unseen and
their TTFR is an upper bound.</p>
{_times_table(report)}
<h2>Backlog and outcomes</h2>
{_backlog_table(report)}
<h2>Sentiment mix and TTFR histogram</h2>
{_mix_table(report)}
{_ratings_table(report)}
<h2>Slowest open mentions</h2>
{_slowest_table(report)}
</body></html>
"""
