"""`monitor report`: read the options, build the report once, render it in the asked format."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from monitor.config import Config
from monitor.reports.query import (
    DIMENSIONS,
    Window,
    build_report,
    parse_since,
    parse_until,
)


def report_zone(config: Config) -> ZoneInfo:
    return ZoneInfo(config.reports.timezone or config.business_hours.timezone)


def render_report(
    config: Config,
    engine: Engine,
    *,
    since: str,
    until: str | None,
    by: str,
    fmt: str,
    now: datetime,
) -> str:
    """The report as text, CSV, JSON or HTML; ValueError names a bad --since / --until."""
    if by not in DIMENSIONS:
        raise ValueError(f"--by must be one of {', '.join(DIMENSIONS)}")
    tz = report_zone(config)
    window = Window(parse_since(since, now, tz), parse_until(until, now, tz), now, tz)
    if window.since >= window.until:
        raise ValueError(f"--since ({window.since:%Y-%m-%d %H:%M}) must be before --until")
    title = f"{config.brand.name}: response report"
    # JSON carries the weekly series too; HTML draws them
    report = build_report(engine, window, by, title=title, charts=fmt in ("json", "html"))
    if fmt == "csv":
        from monitor.reports.render_csv_json import render_csv

        return render_csv(report)
    if fmt == "json":
        from monitor.reports.render_csv_json import render_json

        return render_json(report)
    if fmt == "html":
        from monitor.reports.render_html import render_html

        return render_html(report)
    from monitor.reports.render_text import render_text

    return render_text(report)
