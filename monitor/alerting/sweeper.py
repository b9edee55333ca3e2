"""The minute sweep: SLA clocks move on_track -> at_risk -> breached, each step alerted once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from monitor.alerting import feed_health as health
from monitor.alerting.queue import about_mention, is_queued, queue_alert, under_root
from monitor.alerting.roots import root_alert
from monitor.alerting.routing import Router
from monitor.alerting.sla import Clocks
from monitor.alerting.spikes import raise_spike_alerts
from monitor.config import Config
from monitor.leadership.heartbeat import record_beat
from monitor.states import AlertKind, MentionStatus, SlaState
from monitor.store.db import session as open_session
from monitor.store.models import Mention, utcnow

log = logging.getLogger(__name__)
BATCH = 1000
SPIKE_EVERY = timedelta(minutes=10)
_SLA_ALERTS = {SlaState.AT_RISK: AlertKind.SLA_AT_RISK, SlaState.BREACHED: AlertKind.SLA_BREACHED}


@dataclass
class SweepReport:
    at_risk: int = 0
    breached: int = 0
    expired: int = 0
    feed_alerts: int = 0


class Sweeper:
    """Advances SLA states of open mentions and writes their outbox rows in one transaction."""

    def __init__(
        self, config: Config, engine: Engine, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.clocks = Clocks(config)
        self.router = Router(config)
        self._last_spike_check: datetime | None = None

    def run_once(self, now: datetime | None = None) -> SweepReport:
        now = now or self.clock()
        report = SweepReport()
        with open_session(self.engine) as session:
            due = session.exec(
                select(Mention)
                .where(
                    Mention.status == MentionStatus.OPEN,
                    col(Mention.sla_state).in_((SlaState.ON_TRACK, SlaState.AT_RISK)),
                    # snoozed from Slack: the SLA steps wait (monitor/slack/actions.py)
                    or_(col(Mention.snoozed_until).is_(None), col(Mention.snoozed_until) <= now),
                    or_(
                        col(Mention.sla_at_risk_at) <= now,
                        col(Mention.sla_due_at) <= now,
                    ),
                )
                .order_by(col(Mention.id))
                .limit(BATCH)
            ).all()
            for mention in due:
                state = self.clocks.state(mention, now)
                if state == mention.sla_state:
                    continue
                if state == SlaState.BREACHED:
                    report.breached += 1
                else:
                    report.at_risk += 1
                mention.sla_state = state
                session.add(mention)
                self._alert(session, mention, _SLA_ALERTS[state], now)
            cutoff = now - timedelta(seconds=self.config.sla.expire_after)
            # One UPDATE, not every stale mention loaded as an object: a store that has been
            # off for a while can hold 100,000 of them (bench/memory_bench.py: 600 MB RSS).
            # Expired leaves the clock and is counted in the reply rate.
            expired = session.execute(
                update(Mention)
                .where(col(Mention.status) == MentionStatus.OPEN, col(Mention.created_at) < cutoff)
                .values(status=MentionStatus.EXPIRED)
            )
            report.expired = expired.rowcount  # type: ignore[attr-defined]
            report.feed_alerts = len(health.check_silence(session, self.config, self.router, now))
            if self._last_spike_check is None or now - self._last_spike_check >= SPIKE_EVERY:
                self._last_spike_check = now
                report.feed_alerts += len(
                    raise_spike_alerts(session, self.config, self.router, now)
                )
            record_beat(session, now)  # in the same commit: a sweep that fails is no beat
            session.commit()
        return report

    def _alert(self, session: Session, mention: Mention, kind: AlertKind, now: datetime) -> None:
        """An SLA step threads under the mention's first message; without one, it is routed
        as the mention would be and becomes the first message."""
        key = f"{kind}:{mention.id}"
        if is_queued(session, key):
            return
        root = root_alert(session, mention.id)
        if root is not None:
            alert = under_root(root, kind, key)
        else:
            alert = about_mention(self.router, kind, mention)
        queue_alert(session, alert, now)
