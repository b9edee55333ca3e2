"""The mention's root message: the first top-level alert later alerts thread under."""

from __future__ import annotations

from sqlmodel import Session, col, select

from monitor.models import Alert


def root_alert(
    session: Session, mention_id: int | None, *, before: int | None = None
) -> Alert | None:
    """The mention's first top-level alert: the Slack message later steps thread under.

    Posted or not yet: an SLA step that became the first message (the mention was not
    alerted on arrival) is the root while it waits out quiet hours or a retry, so what
    follows threads under it or is carried by it instead of becoming a second message.
    `before`: only alerts queued before that one (the dispatcher asks for the alert it is
    delivering; the first alert of a mention has no root, it is one)."""
    query = select(Alert).where(Alert.mention_id == mention_id, col(Alert.thread_ts).is_(None))
    if before is not None:
        query = query.where(col(Alert.id) < before)
    return session.exec(query.order_by(col(Alert.id))).first()
