"""The weekly Slack digest: last week against the week before, queued in the outbox on a cron."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine

from connectors.durations import format_duration
from monitor.alerting.queue import NewAlert, queue_alert
from monitor.config import Config
from monitor.reports.command import report_zone
from monitor.reports.query import GroupStats, Window, aggregate, combine, local_midnight
from monitor.reports.query import slowest_open as find_slowest
from monitor.states import AlertKind
from monitor.store.db import session as open_session
from monitor.store.models import Alert, utcnow

log = logging.getLogger(__name__)

JOB_ID = "weekly-digest"


def last_week(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The last full Monday-to-Monday week in `tz` before `now` (local midnights, DST-safe)."""
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    return local_midnight(monday - timedelta(days=7), tz), local_midnight(monday, tz)


def _week(
    engine: Engine, start: datetime, end: datetime, now: datetime, tz: ZoneInfo
) -> GroupStats:
    window = Window(start, end, now, tz)
    return combine(aggregate(engine, window, "platform"), window)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _points(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    return f" ({100 * (now - before):+.0f} pts)"


def _was(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    arrow = "faster" if now < before else "slower" if now > before else "same"
    return f" (was {format_duration(before)}, {arrow})"


def _not_exact(stats: GroupStats) -> list[str]:
    """A line when some TTFRs are upper bounds (a thread not read in full), else none."""
    if not stats.ttfr_not_exact:
        return []
    return [
        f"Not exact: {stats.ttfr_not_exact} of {stats.answered} answers came from threads not"
        " read in full; their times are upper bounds (≤)"
    ]


def digest_key(config: Config, now: datetime) -> str:
    """The outbox key of the digest due at `now`: one per week."""
    tz = report_zone(config)
    start, _end = last_week(now, tz)
    return f"weekly-digest:{start.astimezone(tz).date().isoformat()}"


def digest_body(config: Config, engine: Engine, now: datetime) -> tuple[str, str]:
    """(outbox key, text): the first line is the headline, the rest the message body."""
    tz = report_zone(config)
    start, end = last_week(now, tz)
    this = _week(engine, start, end, now, tz)
    before = _week(engine, *last_week(start, tz), now, tz)
    first, last = start.astimezone(tz), (end - timedelta(seconds=1)).astimezone(tz)
    headline = (
        f"{config.brand.name}: weekly response report, {first:%d %b} – {last:%d %b %Y} ({tz.key})"
    )
    change = this.mentions - before.mentions
    lines = [
        headline,
        f"Mentions: {this.mentions} ({change:+d} on the week before: {before.mentions})",
        f"Reply rate: {_pct(this.reply_rate)}{_points(this.reply_rate, before.reply_rate)}"
        f", answered {this.answered} of {this.expecting_reply} expecting a reply",
        f"Median time to first response: {format_duration(this.ttfr.median)}"
        f"{_was(this.ttfr.median, before.ttfr.median)}; "
        f"p90 {format_duration(this.ttfr.p90)}{_was(this.ttfr.p90, before.ttfr.p90)}",
        f"In business hours: median {format_duration(this.ttfr_business.median)}"
        f"{_was(this.ttfr_business.median, before.ttfr_business.median)}",
        *_not_exact(this),
        f"SLA compliance: {_pct(this.sla_rate)}{_points(this.sla_rate, before.sla_rate)}",
        f"Still open from last week: {this.open} ({this.open_past_sla} past their SLA,"
        f" {this.open_not_due} not yet due)",
    ]
    if this.nps_responses:
        lines.append(f"NPS: {this.nps:+.0f} from {this.nps_responses} scores")
    if this.rating_count and this.rating_mean is not None:
        lines.append(f"Average rating: {this.rating_mean:.2f} stars from {this.rating_count}")
    slowest = find_slowest(engine, Window(start, now, now, tz), config.reports.digest.slowest)
    if slowest:
        lines.append("Slowest unanswered mentions:")
        for mention in slowest:
            waited = format_duration((now - mention.created_at).total_seconds())
            lines.append(f"• {waited} on {mention.platform}: {mention.url or 'no link'}")
    if config.reports.digest.report_url:
        lines.append(f"Full report: {config.reports.digest.report_url}")
    return digest_key(config, now), "\n".join(lines)


def queue_digest(config: Config, engine: Engine, now: datetime) -> Alert | None:
    """Insert the digest into the outbox once per week (the key makes a rerun harmless)."""
    key, body = digest_body(config, engine, now)
    channel = config.reports.digest.channel or config.slack.default_channel
    with open_session(engine) as session:
        alert = queue_alert(
            session, NewAlert(key=key, kind=AlertKind.DIGEST, channel=channel, body=body), now
        )
        if alert is None:
            log.info("digest %s already queued", key)
            return None
        session.commit()
        return alert


def digest_trigger(config: Config) -> CronTrigger:
    digest = config.reports.digest
    return CronTrigger(
        day_of_week=digest.day_of_week,
        hour=digest.hour,
        minute=digest.minute,
        timezone=report_zone(config),
    )


class DigestJob:
    """What the scheduler calls; tests call it with `now` instead of waiting for Monday."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.config, self.engine, self.clock, self.wake = config, engine, clock, wake

    def __call__(self, now: datetime | None = None) -> Alert | None:
        try:
            alert = queue_digest(self.config, self.engine, now or self.clock())
        except Exception:
            log.exception("weekly digest: internal error")
            return None
        if alert is not None and self.wake is not None:
            self.wake()
        return alert


def schedule_digest(
    scheduler: Any,
    config: Config,
    engine: Engine,
    clock: Callable[[], datetime] = utcnow,
    wake: Callable[[], None] | None = None,
) -> Any:
    """Add the digest job when `[reports.digest] enabled = true`; returns the job or None."""
    if not config.reports.digest.enabled:
        return None
    return scheduler.add_job(
        DigestJob(config, engine, clock, wake),
        digest_trigger(config),
        id=JOB_ID,
        name="weekly digest",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=3600,  # a restart at 9:20 still sends Monday's digest
    )
