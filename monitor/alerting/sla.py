"""SLA policies and clocks: which target applies to a mention, when it is at risk and due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.business_hours import BusinessCalendar
from monitor.config import Config, FeedConfig
from monitor.states import SlaState
from monitor.store.models import Mention


@dataclass(frozen=True)
class SLAPolicy:
    target: float  # seconds
    clock: str  # business | calendar
    at_risk: float  # share of the target


class Clocks:
    """Resolves feed > platform > global settings once per feed and does the time sums."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._calendars: dict[str | None, BusinessCalendar] = {}
        self._policies: dict[tuple[str, str], SLAPolicy] = {}

    def _feed(self, name: str) -> FeedConfig | None:
        return self.config.find_feed(name)  # every new mention asks

    def calendar(self, feed_name: str) -> BusinessCalendar:
        feed = self._feed(feed_name)
        key = feed_name if feed is not None and feed.business_hours is not None else None
        if key not in self._calendars:
            hours = feed.business_hours if feed and feed.business_hours else None
            self._calendars[key] = (hours or self.config.business_hours).calendar()
        return self._calendars[key]

    def policy(self, feed_name: str, platform: str) -> SLAPolicy:
        key = (feed_name, platform)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = self._resolve(feed_name, platform)
        return policy

    def _resolve(self, feed_name: str, platform: str) -> SLAPolicy:
        sla = self.config.sla
        target, clock, at_risk = sla.target, sla.clock, sla.at_risk
        feed = self._feed(feed_name)
        for level in (sla.platforms.get(platform), feed.sla if feed else None):
            if level is None:
                continue
            target = level.target if level.target is not None else target
            clock = level.clock or clock
            at_risk = level.at_risk if level.at_risk is not None else at_risk
        return SLAPolicy(target=target, clock=clock, at_risk=at_risk)

    def start(self, mention: Mention, now: datetime, max_age: float) -> None:
        """Set the SLA times of a new mention; history from a backfill gets no clock."""
        times = self.start_times(mention.feed, mention.platform, mention.created_at, now, max_age)
        mention.sla_at_risk_at, mention.sla_due_at, mention.sla_state = times

    def start_times(
        self, feed: str, platform: str, created_at: datetime, now: datetime, max_age: float
    ) -> tuple[datetime | None, datetime | None, SlaState]:
        """(at risk at, due at, state) of a mention created then: what `start` sets."""
        policy = self.policy(feed, platform)
        at_risk, due = policy.target * policy.at_risk, policy.target
        at_risk_at: datetime | None
        due_at: datetime | None
        if policy.clock == "calendar":
            at_risk_at = created_at + timedelta(seconds=at_risk)
            due_at = created_at + timedelta(seconds=due)
        else:  # both from one walk over the opening hours
            calendar = self.calendar(feed)
            at_risk_at, due_at = calendar.add_business_seconds_each(created_at, (at_risk, due))
        old = created_at < now - timedelta(seconds=max_age)
        return at_risk_at, due_at, SlaState.BACKFILL if old else SlaState.ON_TRACK

    def answer(self, mention: Mention, answered_at: datetime) -> None:
        """Both TTFR values and whether the SLA was met, stored once so reports agree."""
        mention.ttfr_seconds = max(0.0, (answered_at - mention.created_at).total_seconds())
        calendar = self.calendar(mention.feed)
        mention.ttfr_business_seconds = calendar.response_seconds(mention.created_at, answered_at)
        policy = self.policy(mention.feed, mention.platform)
        used = mention.ttfr_business_seconds if policy.clock == "business" else mention.ttfr_seconds
        mention.sla_met = used <= policy.target

    def state(self, mention: Mention, now: datetime) -> SlaState:
        if mention.sla_due_at is not None and now >= mention.sla_due_at:
            return SlaState.BREACHED
        if mention.sla_at_risk_at is not None and now >= mention.sla_at_risk_at:
            return SlaState.AT_RISK
        return SlaState.ON_TRACK
