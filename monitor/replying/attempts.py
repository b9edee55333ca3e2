"""One reply per mention from Slack: the `slack_reply` row is the lock and the state.

An attempt is written as `posting` and committed before the platform is asked, so a crash
at any later moment leaves a row that says "this may have been posted". Only an attempt
that certainly posted nothing (`failed`) lets a new one start; one that may have posted
(`unknown`, or `posting` left by a crash) is looked for on the platform first. Every
attempt's end, and every refusal, is also a row in `action` (who, what, the answer) and a
note in the alert's Slack thread, written in the same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from connectors.replies.base import PostedReply
from connectors.text import storable
from monitor.alerting.queue import queue_alert, under_root
from monitor.alerting.roots import root_alert
from monitor.states import AlertKind, ClickAction, ClickOutcome, MentionStatus, ReplyState
from monitor.store.db import session as open_session
from monitor.store.models import Action, Mention, SlackReply, table_of

# One holder of the row makes at most this many requests before it takes the row again or
# lets it go (Threads: create, five status checks, publish, read back; looking for an
# earlier reply: who am I, the thread, a resend), each bounded by the HTTP client's
# whole-request deadline.
REQUESTS_PER_HOLD = 10


def stale_after(http_timeout: float) -> timedelta:
    """A `posting` row taken longer ago than this was left by a crash: no live process can
    still be waiting for its requests (30 s more for pauses and the gap between hosts'
    clocks)."""
    return timedelta(seconds=REQUESTS_PER_HOLD * http_timeout + 30)


# A platform's clock and ours differ: an earlier reply is looked for from a bit before.
SKEW = timedelta(minutes=2)
_REPLIABLE = (MentionStatus.OPEN, MentionStatus.EXPIRED)


@dataclass(frozen=True)
class Who:
    """The agent, and where they pressed the button."""

    user_id: str
    user_name: str | None = None
    source: str = "socket"
    channel_id: str | None = None
    message_ts: str | None = None

    @property
    def name(self) -> str:
        return self.user_name or self.user_id


@dataclass(frozen=True)
class Attempt:
    """The attempt this caller owns: post `text` under `key`.

    `earlier` is set when the previous attempt may have posted (a crash, a lost answer):
    its text and start, to be looked for before anything new is sent. Until `switch` the
    row still describes that earlier attempt, so a crash while it is looked for leaves the
    right text and time to look for after a restart."""

    mention_id: int
    attempt: int
    key: str
    text: str
    started_at: datetime
    earlier: SlackReply | None = None
    taken_at: datetime | None = None  # when this caller took the row (None: at started_at)


@dataclass(frozen=True)
class Refusal:
    outcome: ClickOutcome
    detail: str


def new_key(mention_id: int, attempt: int) -> str:
    """Unique to this attempt, even across a database restored from backup: a platform
    that deduplicates by key must never return another mention's reply."""
    return f"srm-{mention_id}-{attempt}-{secrets.token_hex(8)}"


def begin(
    engine: Engine,
    mention_id: int,
    text: str,
    who: Who,
    now: datetime,
    stale: timedelta,
) -> Attempt | Refusal:
    """Take the mention's reply lock for a new attempt, or say why not; `stale`: how old a
    `posting` row must be to have been left by a crash."""
    with open_session(engine) as session:
        session.connection()  # SQLite: BEGIN IMMEDIATE, so two submissions queue here
        mention = session.get(Mention, mention_id)
        if mention is None:
            return Refusal(ClickOutcome.UNKNOWN, "This mention is no longer in the database.")
        row = session.get(SlackReply, mention_id)
        if row is None:
            closed = _closed(mention)
            if closed is not None:
                return Refusal(ClickOutcome.LOST, closed)
            attempt = Attempt(mention_id, 1, new_key(mention_id, 1), text, now)
            session.add(_row(attempt, who))
            try:
                session.commit()
            except IntegrityError:  # PostgreSQL: another submission inserted it first
                session.rollback()
                return Refusal(ClickOutcome.LOST, in_progress(None))
            return attempt
        return _next(session, row, mention, text, who, now, stale)


def _next(
    session: Session,
    row: SlackReply,
    mention: Mention,
    text: str,
    who: Who,
    now: datetime,
    stale: timedelta,
) -> Attempt | Refusal:
    if row.state == ReplyState.POSTED:
        return Refusal(
            ClickOutcome.LOST,
            f"Already answered from Slack by {row.user_name or row.user_id}"
            f" at {_at(row.finished_at)}: nothing more was posted.",
        )
    if row.state == ReplyState.POSTING and now - row.taken_at < stale:
        return Refusal(ClickOutcome.LOST, in_progress(row))
    # answered on the platform (by a colleague, or by the earlier attempt a poll found) or
    # dismissed: nothing new goes out, whatever the earlier attempt did (a poll or a
    # restart records it if it posted)
    closed = _closed(mention)
    if closed is not None:
        return Refusal(ClickOutcome.LOST, closed)
    attempt = Attempt(
        row.mention_id,
        row.attempt + 1,
        new_key(row.mention_id, row.attempt + 1),
        text,
        now,
        taken_at=now,
    )
    if row.state in (ReplyState.POSTING, ReplyState.UNKNOWN):
        # it may have posted: take the row as it is, to look for that attempt first
        earlier = SlackReply.model_validate(row.model_dump())
        if not take(session.connection(), row, now):
            session.rollback()
            return Refusal(ClickOutcome.LOST, in_progress(None))
        session.commit()
        return replace(attempt, earlier=earlier)
    table = table_of(SlackReply)
    # conditional on what was read: of two submissions, one changes the row
    changed = session.connection().execute(
        sa.update(table)
        .where(
            table.c.mention_id == row.mention_id,
            table.c.attempt == row.attempt,
            table.c.state == row.state,
        )
        .values(_values(attempt, who))
    )
    if changed.rowcount != 1:
        session.rollback()
        return Refusal(ClickOutcome.LOST, in_progress(None))
    session.commit()
    return attempt


def take(connection: Any, row: SlackReply, now: datetime) -> bool:
    """Hold the row as it is (its attempt, text, key kept) from `now`; False when another
    holder changed or took it since it was read."""
    table = table_of(SlackReply)
    changed = connection.execute(
        sa.update(table)
        .where(
            table.c.mention_id == row.mention_id,
            table.c.attempt == row.attempt,
            table.c.state == row.state,
            table.c.taken_at == row.taken_at,
        )
        .values(state=ReplyState.POSTING, taken_at=now)
    )
    return bool(changed.rowcount == 1)


def take_over(engine: Engine, row: SlackReply, now: datetime) -> bool:
    """`take` in its own transaction: a restart settling a row left mid-post."""
    with open_session(engine) as session:
        taken = take(session.connection(), row, now)
        session.commit()
    return taken


def switch(engine: Engine, attempt: Attempt, who: Who) -> bool:
    """The earlier attempt certainly posted nothing: the row becomes `attempt`, unless
    another holder took it meanwhile (this one was too slow and went stale)."""
    assert attempt.earlier is not None and attempt.taken_at is not None
    table = table_of(SlackReply)
    with open_session(engine) as session:
        changed = session.connection().execute(
            sa.update(table)
            .where(
                table.c.mention_id == attempt.mention_id,
                table.c.attempt == attempt.earlier.attempt,
                table.c.state == ReplyState.POSTING,
                table.c.taken_at == attempt.taken_at,
            )
            .values(_values(replace(attempt, taken_at=attempt.started_at), who))
        )
        session.commit()
    return bool(changed.rowcount == 1)


def finish(
    engine: Engine,
    attempt: Attempt,
    who: Who,
    now: datetime,
    *,
    outcome: ClickOutcome,
    detail: str,
    posted: PostedReply | None = None,
    note: str | None = None,
) -> None:
    """End the caller's attempt: its state, an `action` row, and a note in the thread."""
    state = {
        ClickOutcome.POSTED: ReplyState.POSTED,
        ClickOutcome.FAILED: ReplyState.FAILED,
        ClickOutcome.UNCERTAIN: ReplyState.UNKNOWN,
    }[outcome]
    values: dict[str, object] = {
        "state": state,
        "finished_at": now,
        "error": None,
        "text": attempt.text,
        "key": attempt.key,
        "started_at": attempt.started_at,
    }
    if posted is not None:
        values |= {
            "reply_id": posted.external_id[:500],
            "reply_at": posted.created_at,
            "reply_url": (posted.url or "")[:2000] or None,
            "reply_author": (posted.author or "")[:200] or None,
        }
    else:
        values["error"] = detail[:500]
    table = table_of(SlackReply)
    with open_session(engine) as session:
        session.connection().execute(
            sa.update(table)
            .where(table.c.mention_id == attempt.mention_id, table.c.attempt == attempt.attempt)
            .values(values)
        )
        session.add(_action(attempt.mention_id, who, now, outcome, detail, attempt))
        if note is not None:
            _note(session, attempt, outcome, note, now)
        session.commit()


def refuse(
    engine: Engine,
    mention_id: int | None,
    text: str,
    who: Who,
    now: datetime,
    refusal: Refusal,
) -> None:
    """A submission that posted nothing and changed nothing is kept too."""
    with open_session(engine) as session:
        known = mention_id is not None and session.get(Mention, mention_id) is not None
        row = _action(mention_id if known else None, who, now, refusal.outcome, refusal.detail)
        row.text = storable(text)  # what was refused may hold what no store keeps
        session.add(row)
        session.commit()


def mark_recorded(engine: Engine, mention_id: int, key: str) -> None:
    table = table_of(SlackReply)
    with open_session(engine) as session:
        session.connection().execute(
            sa.update(table)
            .where(table.c.mention_id == mention_id, table.c.key == key)
            .values(recorded=True)
        )
        session.commit()


def unfinished(engine: Engine, now: datetime, stale_for: timedelta) -> list[SlackReply]:
    """Attempts a restart must settle: posted but not recorded, or left mid-post."""
    table = table_of(SlackReply)
    stale = now - stale_for
    with open_session(engine) as session:
        rows = session.connection().execute(
            sa.select(table.c.mention_id).where(
                sa.or_(
                    sa.and_(table.c.state == ReplyState.POSTED, table.c.recorded.is_(False)),
                    sa.and_(table.c.state == ReplyState.POSTING, table.c.taken_at < stale),
                )
            )
        )
        ids = [r[0] for r in rows]
        return [found for i in ids if (found := session.get(SlackReply, i)) is not None]


def _closed(mention: Mention) -> str | None:
    """Why an answer from Slack would come too late, or None when it may go out."""
    if mention.status in _REPLIABLE:
        return None
    if mention.status == MentionStatus.ANSWERED:
        who = mention.first_response_by or "the brand"
        return f"Already answered on {mention.platform} by {who}: nothing was posted."
    who = f" by {mention.resolved_by}" if mention.resolved_by else ""
    return f"This mention was {mention.status}{who} meanwhile: nothing was posted."


def in_progress(row: SlackReply | None) -> str:
    who = (row.user_name or row.user_id) if row is not None else "someone"
    return f"A reply by {who} to this mention is being posted right now: nothing more was sent."


def _at(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "earlier"


def _values(attempt: Attempt, who: Who) -> dict[str, object]:
    return {
        "attempt": attempt.attempt,
        "key": attempt.key,
        "state": ReplyState.POSTING,
        "text": attempt.text,
        "user_id": who.user_id[:40],
        "user_name": (who.user_name or "")[:200] or None,
        "started_at": attempt.started_at,
        "taken_at": attempt.taken_at or attempt.started_at,
        "finished_at": None,
        "reply_id": None,
        "reply_at": None,
        "reply_url": None,
        "reply_author": None,
        "recorded": False,
        "error": None,
        "channel_id": who.channel_id,
        "message_ts": who.message_ts,
    }


def _row(attempt: Attempt, who: Who) -> SlackReply:
    return SlackReply(mention_id=attempt.mention_id, **_values(attempt, who))  # type: ignore[arg-type]


def _action(
    mention_id: int | None,
    who: Who,
    now: datetime,
    outcome: ClickOutcome,
    detail: str,
    attempt: Attempt | None = None,
) -> Action:
    return Action(
        mention_id=mention_id,
        action=ClickAction.REPLY,
        value=attempt.key if attempt is not None else None,
        user_id=who.user_id[:40],
        user_name=(who.user_name or "")[:200] or None,
        at=now,
        outcome=outcome,
        detail=detail[:300],
        source=who.source,
        channel_id=who.channel_id,
        message_ts=who.message_ts,
        text=attempt.text if attempt is not None else None,
    )


def _note(
    session: Session, attempt: Attempt, outcome: ClickOutcome, note: str, now: datetime
) -> None:
    """The attempt told in the alert's thread (the outbox posts it, once)."""
    root = root_alert(session, attempt.mention_id)
    if root is None:
        return
    key = f"reply_note:{attempt.mention_id}:{attempt.key}:{outcome}"
    queue_alert(session, under_root(root, AlertKind.REPLY_NOTE, key, body=note[:3000]), now)
