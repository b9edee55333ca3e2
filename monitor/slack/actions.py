"""Apply a Slack click to a mention: first click wins, every attempt is kept in `action`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor.business_hours import BusinessCalendar
from monitor.states import ClickAction, ClickOutcome, MentionStatus
from monitor.store.db import session as open_session
from monitor.store.models import Action, Mention

SNOOZE_HOURS = {"1h": 1, "4h": 4}
SNOOZE_CHOICES = (*SNOOZE_HOURS, "tomorrow")
# Handled / dismissed also accept an expired mention: a phone call a week later still counts.
_CLOSABLE = (MentionStatus.OPEN, MentionStatus.EXPIRED)


@dataclass(frozen=True)
class Click:
    """One button press as Slack reported it."""

    action: ClickAction
    mention_id: int | None  # None when the button's value was not a mention id
    user_id: str
    user_name: str | None = None
    value: str | None = None  # the snooze choice
    source: str = "socket"  # socket | http
    channel_id: str | None = None
    message_ts: str | None = None

    @property
    def who(self) -> str:
        return self.user_name or self.user_id


@dataclass(frozen=True)
class Outcome:
    outcome: ClickOutcome  # refused: the clicker may not act ([slack] allowed_*)
    detail: str  # what the person who clicked is told

    @property
    def applied(self) -> bool:
        return self.outcome == ClickOutcome.APPLIED


def snooze_until(choice: str, now: datetime, calendar: BusinessCalendar) -> datetime:
    """1 h or 4 h from now; "tomorrow" is the next local day's first opening hour."""
    if choice in SNOOZE_HOURS:
        return now + timedelta(hours=SNOOZE_HOURS[choice])
    if choice != "tomorrow":
        raise ValueError(f"unknown snooze choice {choice!r}")
    local_tomorrow = now.astimezone(calendar.zone).date() + timedelta(days=1)
    start = datetime.combine(local_tomorrow, time(), calendar.zone)
    # the first opening on or after tomorrow (a weekend or holiday waits for Monday)
    for opening, _close in calendar.open_intervals(start, start + timedelta(days=14)):
        return opening
    return datetime.combine(local_tomorrow, time(9), calendar.zone)  # no hours configured


def apply_click(
    engine: Engine, click: Click, now: datetime, *, until: datetime | None = None
) -> Outcome:
    """One transaction: a conditional UPDATE decides the winner, the attempt is recorded."""
    with open_session(engine) as session:
        connection = session.connection()  # SQLite: BEGIN IMMEDIATE, so clicks queue here
        exists = _exists(connection, click)
        if not exists:
            gone = f"#{click.mention_id}" if click.mention_id is not None else "of this alert"
            outcome = Outcome(
                ClickOutcome.UNKNOWN, f"The mention {gone} is no longer in the database."
            )
        else:
            changed = connection.execute(_update(click, now, until)).rowcount
            if changed == 1:
                outcome = Outcome(ClickOutcome.APPLIED, _done(click, until))
            else:
                mention = session.get(Mention, click.mention_id)
                assert mention is not None
                outcome = Outcome(ClickOutcome.LOST, _why_not(click, mention))
        session.add(_row(click, now, outcome, exists))
        session.commit()
    return outcome


def refuse_click(engine: Engine, click: Click, now: datetime, detail: str) -> Outcome:
    """A click by someone who may not act: the mention is left alone, the attempt is kept."""
    outcome = Outcome(ClickOutcome.REFUSED, detail)
    with open_session(engine) as session:
        session.add(_row(click, now, outcome, _exists(session.connection(), click)))
        session.commit()
    return outcome


def _exists(connection: Any, click: Click) -> bool:
    return click.mention_id is not None and (
        connection.execute(
            sa.select(col(Mention.id)).where(col(Mention.id) == click.mention_id)
        ).first()
        is not None
    )


def _row(click: Click, now: datetime, outcome: Outcome, exists: bool) -> Action:
    return Action(
        mention_id=click.mention_id if exists else None,
        action=click.action,
        value=click.value,
        user_id=click.user_id[:40],
        user_name=(click.user_name or "")[:200] or None,
        at=now,
        outcome=outcome.outcome,
        detail=outcome.detail[:300],
        source=click.source,
        channel_id=click.channel_id,
        message_ts=click.message_ts,
    )


def _update(click: Click, now: datetime, until: datetime | None) -> Any:
    """The conditional UPDATE: under concurrency exactly one click matches its WHERE."""
    table = Mention.__table__  # type: ignore[attr-defined]
    stmt = sa.update(table).where(table.c.id == click.mention_id)
    who = click.who[:200]
    if click.action == ClickAction.CLAIM:
        return stmt.where(
            table.c.status == MentionStatus.OPEN, table.c.claimed_by.is_(None)
        ).values(claimed_by=who, claimed_at=now)
    if click.action in (ClickAction.HANDLED, ClickAction.DISMISS):
        status = (
            MentionStatus.HANDLED
            if click.action == ClickAction.HANDLED
            else MentionStatus.DISMISSED
        )
        return stmt.where(table.c.status.in_(_CLOSABLE)).values(
            status=status, resolved_by=who, resolved_at=now
        )
    if click.action == ClickAction.SNOOZE:
        if until is None:
            raise ValueError("a snooze needs `until`")
        return stmt.where(
            table.c.status == MentionStatus.OPEN,
            sa.or_(table.c.snoozed_until.is_(None), table.c.snoozed_until <= now),
        ).values(snoozed_until=until, snoozed_by=who)
    raise ValueError(f"unknown action {click.action!r}")


def _at(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "earlier"


def _done(click: Click, until: datetime | None) -> str:
    return {
        ClickAction.CLAIM: "You claimed this mention.",
        ClickAction.HANDLED: "Marked handled (answered outside the monitored platforms).",
        ClickAction.DISMISS: "Dismissed as not relevant.",
        ClickAction.SNOOZE: f"SLA alerts snoozed until {_at(until)}.",
    }[click.action]


def _why_not(click: Click, mention: Mention) -> str:
    """Tell the later clicker who got there first."""
    if mention.status == MentionStatus.ANSWERED:
        who = mention.first_response_by or "the brand"
        return f"Already answered on {mention.platform} by {who}."
    if mention.status == MentionStatus.HANDLED:
        return f"Already marked handled by @{mention.resolved_by} at {_at(mention.resolved_at)}."
    if mention.status == MentionStatus.DISMISSED:
        return f"Already dismissed by @{mention.resolved_by} at {_at(mention.resolved_at)}."
    if mention.status != MentionStatus.OPEN:
        return f"This mention is {mention.status}; nothing to do."
    if click.action == ClickAction.CLAIM:
        if mention.claimed_by == click.who:
            return "You already claimed this mention."
        return f"Already claimed by @{mention.claimed_by} at {_at(mention.claimed_at)}."
    if click.action == ClickAction.SNOOZE:
        return f"Already snoozed until {_at(mention.snoozed_until)} by @{mention.snoozed_by}."
    return "Nothing changed."
