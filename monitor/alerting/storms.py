"""Storm control: when a route gets more alerts than its threshold in a window, send one digest."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from monitor.alerting.messages import THREAD_KINDS
from monitor.alerting.queue import NewAlert, queue_alert
from monitor.alerting.routing import Router
from monitor.states import AlertKind, AlertState
from monitor.store.models import Alert, Mention

DIGEST_LINES = 40  # Slack shows the rest as "... and N more"


def fold_storms(session: Session, router: Router, now: datetime) -> list[Alert]:
    """Fold due alerts of stormy routes into one digest row each; returns the digests.

    The folded alerts stay in the outbox (pending, pointing at their digest) and become
    sent together with it, so each is still recorded and later answers thread under it.
    """
    due = session.exec(
        select(Alert).where(
            Alert.state == AlertState.PENDING,
            col(Alert.next_attempt_at) <= now,
            col(Alert.digest_id).is_(None),
            col(Alert.mention_id).is_not(None),
            col(Alert.kind).not_in(THREAD_KINDS),
            col(Alert.attempts) == 0,
        )
    ).all()
    by_route: dict[str, list[Alert]] = defaultdict(list)
    for alert in due:
        if alert.route:
            by_route[alert.route].append(alert)
    digests: list[Alert] = []
    for route_name, pending in by_route.items():
        route = router.get(route_name)
        if route is None or route.storm is None or len(pending) < 2:
            continue
        recent = session.exec(
            select(func.count())
            .select_from(Alert)
            .where(
                Alert.route == route_name,
                Alert.state == AlertState.SENT,
                col(Alert.kind).not_in((*THREAD_KINDS, AlertKind.DIGEST)),
                col(Alert.sent_at) >= now - timedelta(seconds=route.storm.window),
            )
        ).one()
        if len(pending) + recent <= route.storm.threshold:
            continue
        digest = queue_alert(
            session,
            NewAlert(
                key=f"digest:{route_name}:{min(a.id or 0 for a in pending)}",
                kind=AlertKind.DIGEST,
                channel=route.channel,
                route=route_name,
                body=_digest_body(session, pending, route.storm.window),
            ),
            now,
        )
        if digest is None:
            continue  # the key names an alert that, once folded, is no longer due: unreached
        for alert in pending:
            alert.digest_id = digest.id
            session.add(alert)
        digests.append(digest)
    return digests


def _digest_body(session: Session, alerts: list[Alert], window: float) -> str:
    ids = [a.mention_id for a in alerts if a.mention_id is not None]
    mentions = {m.id: m for m in session.exec(select(Mention).where(col(Mention.id).in_(ids)))}
    lines = [f"{len(alerts)} new alerts in the last {int(window // 60)} min (storm digest)"]
    for alert in alerts[:DIGEST_LINES]:
        mention = mentions.get(alert.mention_id)
        if mention is None:
            continue
        text = " ".join(mention.text.split())[:120]
        lines.append(
            f"• {mention.sentiment} · {mention.platform} · {mention.author or '?'}: {text}"
            + (f" {mention.url}" if mention.url else "")
        )
    if len(alerts) > DIGEST_LINES:
        lines.append(f"… and {len(alerts) - DIGEST_LINES} more (`monitor status`)")
    return "\n".join(lines)
