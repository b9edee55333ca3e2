"""The mention's root message: the first top-level alert later alerts thread under."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from monitor.store.models import Alert

# asked for every SLA step queued and every thread reply delivered: built once
_ROOT = (
    select(Alert)
    .where(col(Alert.mention_id) == bindparam("mention"), col(Alert.thread_ts).is_(None))
    .order_by(col(Alert.id))
    .limit(1)
)
_ROOT_BEFORE = _ROOT.where(col(Alert.id) < bindparam("before"))


def root_alert(
    session: Session, mention_id: int | None, *, before: int | None = None
) -> Alert | None:
    """The mention's first top-level alert: the Slack message later steps thread under.

    Posted or not yet: an SLA step that became the first message (the mention was not
    alerted on arrival) is the root while it waits out quiet hours or a retry, so what
    follows threads under it or is carried by it instead of becoming a second message.
    `before`: only alerts queued before that one (the dispatcher asks for the alert it is
    delivering; the first alert of a mention has no root, it is one)."""
    if mention_id is None:
        return None  # an alert about no mention is no one's root
    if before is None:
        return session.exec(_ROOT, params={"mention": mention_id}).first()
    return session.exec(_ROOT_BEFORE, params={"mention": mention_id, "before": before}).first()
