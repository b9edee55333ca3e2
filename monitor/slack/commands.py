"""What `/monitor status` and `/monitor report 7d` answer: feed health and headline numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from alerts.escape import escape
from connectors.durations import format_duration, parse_duration
from monitor.config import Config
from monitor.reports.query import Window
from monitor.reports.query import period_total as report_total
from monitor.reports.status import (
    attention_first,
    feed_statuses,
    open_claims,
    outbox_status,
    summary_line,
)

DEFAULT_PERIOD = 7 * 86400.0
MAX_PERIOD = 366 * 86400.0


@dataclass
class Headline:
    """Mentions created in the period, by what became of them: the report's numbers
    (monitor/reports/query.py, docs/reports.md), so Slack and the reports always agree."""

    since: datetime
    total: int = 0
    answered: int = 0
    handled: int = 0  # answered outside the platforms (e-mail, phone): not a platform reply
    dismissed: int = 0  # spam / not about us: out of the reply rate
    open: int = 0
    open_past_sla: int = 0
    expired: int = 0
    median_ttfr: float | None = None
    # answers found by a walk that did not read the whole thread: their TTFR is an upper bound
    ttfr_not_exact: int = 0
    median_ttfr_business: float | None = None
    reply_rate: float | None = None
    sla_rate: float | None = None
    open_not_due: int = 0


def headline(engine: Engine, now: datetime, period: float) -> Headline:
    since = now - timedelta(seconds=period)
    numbers = report_total(engine, Window(since, now, now, ZoneInfo("UTC")))
    return Headline(
        since=since,
        total=numbers.mentions,
        answered=numbers.answered,
        handled=numbers.handled,
        dismissed=numbers.dismissed,
        open=numbers.open,
        open_past_sla=numbers.open_past_sla,
        expired=numbers.expired,
        median_ttfr=numbers.ttfr.median,
        ttfr_not_exact=numbers.ttfr_not_exact,
        median_ttfr_business=numbers.ttfr_business.median,
        reply_rate=numbers.reply_rate,
        sla_rate=numbers.sla_rate,
        open_not_due=numbers.open_not_due,
    )


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.0f} %"


def report_text(
    config: Config, engine: Engine, now: datetime, period: float, label: str | None = None
) -> str:
    numbers = headline(engine, now, period)
    rate = numbers.reply_rate
    lines = [
        f"*{escape(config.brand.name, 100)}: the last {label or format_duration(period)}*"
        f" (mentions since {numbers.since:%Y-%m-%d %H:%M} UTC)",
        f"• mentions: {numbers.total}",
        f"• reply rate: {'-' if rate is None else f'{100 * rate:.0f} %'}"
        f" ({numbers.answered} answered, {numbers.open} open, {numbers.expired} expired)",
        f"• median time to first response: {format_duration(numbers.median_ttfr)}"
        f" ({format_duration(numbers.median_ttfr_business)} in business hours"
        + (
            f"; {numbers.ttfr_not_exact} of {numbers.answered} answers not exact, upper bounds (≤)"
            if numbers.ttfr_not_exact
            else ""
        )
        + ")",
        f"• SLA compliance: {_percent(numbers.sla_rate)}"
        f" ({numbers.open_past_sla} open past SLA, {numbers.open_not_due} not yet due)",
        f"• handled outside the platforms (e-mail, phone): {numbers.handled}",
        f"• dismissed as not relevant: {numbers.dismissed} (not in the reply rate)",
        f"• still open: {numbers.open}",
    ]
    return "\n".join(lines)


# Feeds listed one by one in `/monitor status`: all of them up to this many, else only those
# needing a look, worst first. A line per feed of 1,000 was 80,000 characters; Slack cuts a
# message at 40,000, which dropped the alerts and the report below the list.
STATUS_FEED_LINES = 15
_ICONS = {
    "ok": ":large_green_circle:",
    "failing": ":red_circle:",
    "quiet": ":large_yellow_circle:",
    "warning": ":large_orange_circle:",  # its last good poll warned: a malformed document
    "never polled": ":white_circle:",
    "disabled": ":white_circle:",
}


def status_text(config: Config, engine: Engine, now: datetime) -> str:
    rows = feed_statuses(config, engine, now)
    lines = [f"*Feeds*: {escape(summary_line(rows).removeprefix('feeds: '), 200)}"]
    listed = rows if len(rows) <= STATUS_FEED_LINES else attention_first(rows)
    for row in listed[:STATUS_FEED_LINES]:
        icon = _ICONS[row.kind]
        line = f"{icon} {escape(row.name, 100)} ({escape(row.type, 40)}): {escape(row.health, 40)}"
        if row.last_success_at:
            ago = format_duration((now - row.last_success_at).total_seconds())
            line += f", last success {ago} ago"
        if row.last_error:
            line += f", last error: {escape(row.last_error, 150)}"
        lines.append(line)
    if len(listed) > STATUS_FEED_LINES:
        lines.append(
            f"… and {len(listed) - STATUS_FEED_LINES} more needing a look:"
            " `monitor status --problems` lists them all"
        )
    outbox = outbox_status(engine)
    lines.append(f"*Alerts*: {outbox.sent} sent, {outbox.pending} pending, {outbox.failed} failing")
    total, claims = open_claims(engine, limit=10)
    if total:
        lines.append(f"*Claimed, still open*: {total}")
        for claim in claims:
            lines.append(
                f"• #{claim.mention_id} {escape(claim.platform, 40)}"
                f" claimed by @{escape(claim.claimed_by, 80)}"
            )
    lines.append("")
    lines.append(report_text(config, engine, now, 86400.0, "24h"))
    return "\n".join(lines)


USAGE = "Try `{command} status` or `{command} report 7d` (any period: 24h, 30d)."


def answer(config: Config, engine: Engine, now: datetime, text: str) -> str:
    """The reply to `/monitor <text>`."""
    words = text.split()
    if not words or words[0] == "status":
        return status_text(config, engine, now)
    if words[0] == "report":
        period, label = DEFAULT_PERIOD, "7d"
        if len(words) > 1:
            label = escape(words[1], 20)
            try:
                period = parse_duration(words[1])
            except ValueError:
                return f"Not a period: {escape(words[1], 20)}. " + USAGE.format(
                    command=config.slack.command
                )
        bounded = min(max(period, 3600.0), MAX_PERIOD)
        return report_text(config, engine, now, bounded, label if bounded == period else None)
    return USAGE.format(command=config.slack.command)
