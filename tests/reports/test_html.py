"""The HTML report: self-contained, every chart drawn, opened in headless Chromium cleanly."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from monitor.reports.query import Window, build_report
from monitor.reports.render_html import render_html
from tests.reports.chromium import find_chromium, open_page
from tests.reports.dataset import NOW, SINCE, UNTIL, load, mention

pytest.importorskip("matplotlib", reason="the HTML report needs the `reports` extra")

WINDOW = Window(SINCE, UNTIL, NOW, ZoneInfo("UTC"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHARTS = ["ttfr", "platforms", "sentiment", "histogram", "ratings", "nps"]
# Every chart: the image decoded (naturalWidth) and is laid out at a visible size.
CHECK = """
Array.from(document.querySelectorAll('figure.chart')).map(figure => {
  const img = figure.querySelector('img');
  const box = img.getBoundingClientRect();
  return {chart: figure.dataset.chart, decoded: img.complete && img.naturalWidth > 0,
          width: Math.round(box.width), height: Math.round(box.height)};
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


@pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium not installed (Debian: apt-get install chromium; .ci/run does it)",
)
def test_html_report_renders_in_chromium_without_console_errors(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    pytest.importorskip("websockets", reason="the DevTools client needs websockets")
    page = tmp_path / "report.html"
    page.write_text(report_html(sqlite_engine), encoding="utf-8")
    screenshot = ARTIFACTS / "report.png"
    result = open_page(page.as_uri(), CHECK, screenshot)
    assert result.errors == []
    # only the file itself and its inline images: the report needs no network
    assert [u for u in result.requests if not u.startswith(("file:", "data:"))] == []
    assert [c["chart"] for c in result.value] == CHARTS
    for chart in result.value:
        assert chart["decoded"], chart
        assert chart["width"] > 300 and chart["height"] > 150, chart
    assert screenshot.stat().st_size > 20_000  # a real picture, saved for people to look at
