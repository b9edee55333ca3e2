"""The HTML report: self-contained, every chart drawn, opened in headless Chromium cleanly."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from monitor.reports.headline import headline_tiles
from monitor.reports.query import Window, build_report
from monitor.reports.render_html import figures, render_html
from tests.reports.chromium import find_chromium, open_page
from tests.reports.dataset import NOW, SINCE, UNTIL, load, mention

pytest.importorskip("matplotlib", reason="the HTML report needs the `reports` extra")
from matplotlib.backends.backend_agg import FigureCanvasAgg

WINDOW = Window(SINCE, UNTIL, NOW, ZoneInfo("UTC"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHARTS = ["ttfr", "platforms", "sentiment", "histogram", "ratings", "nps"]
# Every chart: the image decoded (naturalWidth) and is laid out at a visible size; the page
# and every table box: how wide their content is against the width they have.
CHECK = """
({
  page: {scroll: document.documentElement.scrollWidth, width: window.innerWidth},
  boxes: Array.from(document.querySelectorAll('.scroll')).map(box =>
    ({scroll: box.scrollWidth, width: box.clientWidth})),
  headlines: Array.from(document.querySelectorAll('.tile')).map(tile =>
    ({key: tile.dataset.headline, top: Math.round(tile.getBoundingClientRect().top)})),
  charts: Array.from(document.querySelectorAll('figure.chart')).map(figure => {
    const img = figure.querySelector('img');
    const box = img.getBoundingClientRect();
    return {chart: figure.dataset.chart, decoded: img.complete && img.naturalWidth > 0,
            top: Math.round(box.top), left: Math.round(box.left),
            right: Math.round(box.right), width: Math.round(box.width),
            height: Math.round(box.height)};
  }),
  firstTable: Math.round(document.querySelector('table').getBoundingClientRect().top),
})
"""


def report_html(engine: Engine) -> str:
    hostile = mention(
        "reddit",
        SINCE,
        url="javascript:alert(1)",
        author="<script>alert(1)</script>",
        text="<img src=x onerror=alert(1)>",
    )
    load(engine)
    load(engine, [hostile])
    return render_html(build_report(engine, WINDOW, "platform", charts=True))


def test_html_is_self_contained_and_escapes_what_customers_wrote(sqlite_engine: Engine) -> None:
    page = report_html(sqlite_engine)
    assert [m for m in re.findall(r'data-chart="(\w+)"', page)] == CHARTS
    # nothing to fetch: no script, no stylesheet link, no remote image
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'src="(?!data:image/svg\+xml;base64,)', page)
    assert "javascript:" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Median comes first" in page


def test_headline_numbers_come_with_their_change_on_the_previous_period(
    sqlite_engine: Engine,
) -> None:
    load(sqlite_engine)
    report = build_report(sqlite_engine, WINDOW, "platform", charts=True)
    # the 21 days before SINCE hold one mention, answered in 5 s within its SLA
    assert report.previous is not None and report.previous.answered == 1
    tiles = {t.key: t for t in headline_tiles(report)}
    assert list(tiles) == ["median_ttfr", "sla_compliance", "reply_rate", "open_backlog"]
    median, sla, rate, backlog = tiles.values()
    assert (median.value, median.trend) == ("1h 00m", "worse")
    assert median.change == "slower than the previous 21 days (5s)"
    # 5 within target of 7 answered + 1 open past due + 1 expired
    assert (sla.value, sla.change, sla.trend) == (
        "56%",
        "-44 pts on the previous 21 days (100%)",
        "worse",
    )
    assert sla.detail == "5 of 9 within target; 1 open not yet due"
    # 7 answered of 10 expecting a reply (the 5 survey answers expect none)
    assert (rate.value, rate.change) == ("70%", "-30 pts on the previous 21 days (100%)")
    assert (backlog.value, backlog.change, backlog.trend) == (
        "2",
        "+2 on the previous 21 days (0)",
        "worse",
    )
    page = render_html(report)
    # headline numbers before the charts, charts before the tables
    assert (
        page.index('data-headline="median_ttfr"') < page.index("data-chart=") < page.index("<table")
    )
    assert "-44 pts on the previous 21 days (100%)" in page


def test_charts_keep_legends_off_the_data_count_whole_numbers_and_label_every_bar(
    sqlite_engine: Engine,
) -> None:
    load(sqlite_engine)
    # a platform with nothing answered: its reply-rate bar is 0 % and must still read "0%"
    load(sqlite_engine, [mention("hn", SINCE + timedelta(days=8), status="expired")])
    report = build_report(sqlite_engine, WINDOW, "platform", charts=True)
    drawn = {key: made for key, _, made in figures(report)}
    for key, made in drawn.items():
        canvas = FigureCanvasAgg(made)
        canvas.draw()
        renderer = canvas.get_renderer()
        (axes,) = made.axes
        plot = axes.get_window_extent(renderer)
        for legend in [*made.legends, *([axes.get_legend()] if axes.get_legend() else [])]:
            assert not legend.get_window_extent(renderer).overlaps(plot), key
    for key in ("sentiment", "histogram", "ratings"):
        ticks = drawn[key].axes[0].get_yticks()
        assert all(float(t).is_integer() for t in ticks), (key, ticks)
    labels = [t.get_text() for t in drawn["platforms"].axes[0].texts]
    # hn: reply rate 0 of 1 -> "0%"; SLA: the expired one missed -> "0%"; survey: nothing
    # expects a reply -> "n/a" for both
    assert labels.count("0%") >= 2 and labels.count("n/a") >= 2
    assert "70%" not in labels and "50%" in labels  # reddit's reply rate, 3 of 6


@pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium not installed (Debian: apt-get install chromium; .ci/run does it)",
)
@pytest.mark.parametrize("width", [1280, 390])
def test_html_report_fits_the_window_in_chromium_with_every_chart_drawn(
    sqlite_engine: Engine, tmp_path: Path, width: int
) -> None:
    pytest.importorskip("websockets", reason="the DevTools client needs websockets")
    page = tmp_path / "report.html"
    page.write_text(report_html(sqlite_engine), encoding="utf-8")
    screenshot = ARTIFACTS / f"report-{width}.png"
    result = open_page(page.as_uri(), CHECK, screenshot, width=width)
    assert result.errors == []
    # only the file itself and its inline images: the report needs no network
    assert [u for u in result.requests if not u.startswith(("file:", "data:"))] == []
    found = result.value
    # no sideways scrolling of the page at either width
    assert found["page"]["scroll"] <= found["page"]["width"] == width, found["page"]
    if width >= 1280:
        # and at a desktop width no table needs its own scrollbar either
        assert all(box["scroll"] <= box["width"] for box in found["boxes"]), found["boxes"]
    assert [h["key"] for h in found["headlines"]] == [
        "median_ttfr",
        "sla_compliance",
        "reply_rate",
        "open_backlog",
    ]
    charts = found["charts"]
    assert [c["chart"] for c in charts] == CHARTS
    assert max(h["top"] for h in found["headlines"]) < min(c["top"] for c in charts)
    assert max(c["top"] for c in charts) < found["firstTable"]
    for chart in charts:
        assert chart["decoded"], chart
        assert chart["left"] >= 0 and chart["right"] <= width, chart
        # readable: at least 300 px wide, or the whole column on a phone
        assert chart["width"] >= min(300, width - 60) and chart["height"] > 150, chart
    if width >= 1280:
        assert len({c["left"] for c in charts}) == 2  # two charts side by side
    assert screenshot.stat().st_size > 20_000  # a real picture, saved for people to look at
