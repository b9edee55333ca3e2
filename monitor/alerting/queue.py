"""The one way an alert enters the outbox: a row per key, decided once, routed one way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlmodel import Session

from monitor.alerting.routing import Router, mention_subject
from monitor.states import AlertKind
from monitor.store.bulk import insert_returning
from monitor.store.models import Alert, table_of

_ALERT = table_of(Alert)
# asked before most single inserts: built once, run in Core
_QUEUED = select(_ALERT.c.id).where(_ALERT.c.key == bindparam("key"))


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to queue: the outbox row's fields before the dispatcher touches it."""

    key: str
    kind: AlertKind
    channel: str
    route: str | None = None
    feed: str | None = None
    mention_id: int | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """An alert put in the outbox, for a poll's report (the dispatcher reads the row itself)."""

    key: str
    mention_id: int | None
    kind: str
    channel: str
    route: str | None

    @classmethod
    def of(cls, alert: NewAlert | Alert) -> QueuedAlert:
        return cls(alert.key, alert.mention_id, alert.kind, alert.channel, alert.route)


class Routed(Protocol):
    """What routing reads of a mention (a stored `Mention` or a just-inserted `NewMention`)."""

    @property
    def id(self) -> int | None: ...
    @property
    def feed(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def sentiment(self) -> str: ...
    @property
    def rating(self) -> float | None: ...
    @property
    def language(self) -> str | None: ...


def about_mention(
    router: Router, kind: AlertKind, mention: Routed, *, key: str | None = None
) -> NewAlert:
    """A mention's alert, sent where the routes send this kind of mention; `key` defaults
    to `<kind>:<mention id>`, the one alert of this kind a mention gets."""
    destination = router.route(
        kind=kind,
        feed=mention.feed,
        platform=mention.platform,
        sentiment=mention.sentiment,
        rating=mention.rating,
        language=mention.language,
        subject=mention_subject(mention),
    )
    return NewAlert(
        key=key or f"{kind}:{mention.id}",
        kind=kind,
        channel=destination.channel,
        route=destination.route,
        feed=mention.feed,
        mention_id=mention.id,
    )


def under_root(root: Alert, kind: AlertKind, key: str, *, body: str | None = None) -> NewAlert:
    """A follow-up in the thread of the mention's root message: same channel and route."""
    return NewAlert(
        key=key,
        kind=kind,
        channel=root.channel,
        route=root.route,
        feed=root.feed,
        mention_id=root.mention_id,
        body=body,
    )


def about_feed(router: Router, kind: AlertKind, feed: str, key: str, body: str) -> NewAlert:
    """An alert about a feed as a whole (its health, a spike), routed by kind and feed."""
    destination = router.route(kind=kind, feed=feed)
    return NewAlert(
        key=key,
        kind=kind,
        channel=destination.channel,
        route=destination.route,
        feed=feed,
        body=body,
    )


def is_queued(session: Session, key: str) -> bool:
    """Whether an alert with this key was ever queued (sent, pending or failed)."""
    return session.execute(_QUEUED, {"key": key}).first() is not None


def queue_alert(session: Session, alert: NewAlert, now: datetime) -> Alert | None:
    """Add one outbox row, unless its key was queued before: None then. Flushed, so the row
    has its id; committed with the caller's transaction."""
    if is_queued(session, alert.key):
        return None
    row = Alert(**_values(alert, now))
    session.add(row)
    session.flush()
    return row


def queue_new(session: Session, alerts: Sequence[NewAlert], now: datetime) -> list[QueuedAlert]:
    """Add many rows whose keys cannot exist yet (alerts about mentions this transaction
    inserted) in one multi-row INSERT: a poll's page of alerts without a lookup each.

    A key that does exist is an IntegrityError, which rolls the poll back (a bug, not a race:
    the mention ids in the keys are new)."""
    if not alerts:
        return []
    # the ids are not needed: the dispatcher reads the rows (monitor/store/bulk.py)
    insert_returning(session, _ALERT, [_values(a, now) for a in alerts], ("id",))
    return [QueuedAlert.of(a) for a in alerts]


def _values(alert: NewAlert, now: datetime) -> dict[str, Any]:
    """The outbox row of `alert`, due now. The fields spelled out: asdict() copies each value
    recursively, per alert of a backfill."""
    return {
        "key": alert.key,
        "kind": alert.kind,
        "channel": alert.channel,
        "route": alert.route,
        "feed": alert.feed,
        "mention_id": alert.mention_id,
        "body": alert.body,
        "next_attempt_at": now,
        "created_at": now,
    }
