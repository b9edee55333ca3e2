"""The mention's root message: the first top-level alert later alerts thread under."""

from __future__ import annotations

from sqlmodel import Session, col, select

from monitor.models import Alert


def root_alert(session: Session, mention_id: int | None) -> Alert | None:
    """The mention's first top-level alert: the Slack message later steps thread under."""
    return session.exec(
        select(Alert)
        .where(Alert.mention_id == mention_id, col(Alert.thread_ts).is_(None))
        .order_by(col(Alert.id))
    ).first()
