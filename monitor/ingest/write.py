"""Write one ingest `Plan` in the caller's transaction: mentions, replies, alerts, state."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime

from sqlalchemy import Boolean, bindparam, insert, update
from sqlmodel import Session

from monitor.alerting.queue import QueuedAlert, about_mention, queue_alert, queue_new, under_root
from monitor.alerting.roots import root_alert
from monitor.alerting.routing import Router
from monitor.ingest import feed_state
from monitor.ingest.decide import Answer, FollowUp, Plan
from monitor.ingest.inserted import NewMention
from monitor.store.bulk import insert_returning
from monitor.store.models import BrandReplyRow, Mention, UTCDateTime, table_of

_MENTION = table_of(Mention)
_REPLY = table_of(BrandReplyRow)

# Built once, run with a list of rows (executemany): the rare writes of a poll.
_EDITED = (
    update(_MENTION).where(_MENTION.c.id == bindparam("mention_id")).values(edited_after_reply=True)
)
_ANSWER_FIELDS = (
    "status",
    "first_response_at",
    "first_response_seen_at",
    "first_response_by",
    "first_response_url",
    "ttfr_exact",
    "ttfr_seconds",
    "ttfr_business_seconds",
    "sla_met",
)
# A first response set or moved: the same fields of `Answer`, bound as a_<field> (each with
# its column's type, so datetimes go through UTCDateTime)
_ANSWERED = (
    update(_MENTION)
    .where(_MENTION.c.id == bindparam("mention_id"))
    .values({f: bindparam(f"a_{f}", type_=_MENTION.c[f].type) for f in _ANSWER_FIELDS})
)
_REPLY_CHANGED = (
    update(_REPLY)
    .where(_REPLY.c.id == bindparam("reply_id"))
    .values(
        created_at=bindparam("r_created_at", type_=UTCDateTime()),
        earlier_unseen=bindparam("r_earlier_unseen", type_=Boolean()),
    )
)


@dataclass(frozen=True)
class Written:
    """What the write made: the mentions it inserted, the alerts it queued for the report
    (alerts about new mentions, "answered" updates)."""

    new_mentions: list[NewMention]
    alerts: list[QueuedAlert]


def write(session: Session, plan: Plan, router: Router, now: datetime) -> Written:
    """Write `plan`; the caller commits (or rolls back a dry run)."""
    conn = session.connection()
    if plan.edited:
        conn.execute(_EDITED, [{"mention_id": i} for i in plan.edited])
    for note in plan.edit_notes:
        _follow_up(session, note, now)
    new_mentions = _insert_mentions(session, plan)
    if plan.reply_inserts:
        rows = [asdict(r) for r in plan.reply_inserts]
        for row in rows:
            del row["id"]
        conn.execute(insert(_REPLY), rows)
    if plan.reply_changes:
        changed = [
            {"reply_id": r.id, "r_created_at": r.created_at, "r_earlier_unseen": r.earlier_unseen}
            for r in plan.reply_changes
        ]
        conn.execute(_REPLY_CHANGED, changed)
    if plan.answers:
        id_of = {(m.platform, m.external_id): m.id for m in new_mentions}
        conn.execute(_ANSWERED, [_answered(a, id_of) for a in plan.answers])
    about = [
        about_mention(router, row.alert, mention)
        for row, mention in zip(plan.mentions, new_mentions, strict=True)
        if row.alert is not None
    ]
    alerts = queue_new(session, about, now)
    for update_ in plan.answered_updates:
        queued = _follow_up(session, update_, now)
        if queued is not None:
            alerts.append(queued)
    if plan.state is not None:
        feed_state.record_success(session, router, plan.feed, plan.state, now, len(new_mentions))
    if plan.checked:
        feed_state.record_filtered(session.connection(), plan.feed, plan.checked, plan.filtered)
    return Written(new_mentions, alerts)


def _insert_mentions(session: Session, plan: Plan) -> list[NewMention]:
    if not plan.mentions:
        return []
    values = [row.values for row in plan.mentions]
    # Performance (bench/ingest_bench.py): one multi-row INSERT ... RETURNING from plain
    # dicts. One SQLModel object per row, flushed one by one, cost 3x TextBlob itself; an
    # INSERT returning the ids only, because ORM bulk persistence and loading the rows back
    # as `Mention` objects cost 5x what sqlite3 spends on the INSERT (bench/README.md).
    # RETURNING order is not the VALUES order: the unique key gives each row its id.
    returned = insert_returning(session, _MENTION, values, ("id", "platform", "external_id"))
    id_of = {(platform, external_id): id_ for id_, platform, external_id in returned}
    return [
        NewMention(
            id=id_of[(v["platform"], v["external_id"])],
            platform=v["platform"],
            feed=v["feed"],
            external_id=v["external_id"],
            created_at=v["created_at"],
            text=v["text"],
            title=v["title"],
            url=v["url"],
            author=v["author"],
            language=v["language"],
            rating=v["rating"],
            sentiment=v["sentiment"],
            status=row.status,
            author_id=v.get("author_id"),
            parent_id=v.get("parent_id"),
        )
        for row, v in zip(plan.mentions, values, strict=True)
    ]


def _answered(answer: Answer, id_of: dict[tuple[str, str], int]) -> dict[str, object]:
    mention_id = answer.id
    if mention_id is None:  # a mention this plan inserted
        mention_id = id_of[(answer.platform, answer.external_id)]
    return {"mention_id": mention_id} | {f"a_{f}": getattr(answer, f) for f in _ANSWER_FIELDS}


def _follow_up(session: Session, follow_up: FollowUp, now: datetime) -> QueuedAlert | None:
    """Queue `follow_up` under its mention's root message; nothing without a root, or when
    its key was queued before."""
    root = root_alert(session, follow_up.mention_id)
    if root is None:
        return None
    alert = under_root(root, follow_up.kind, follow_up.key, body=follow_up.body)
    if not follow_up.routed:
        alert = replace(alert, route=None)
    row = queue_alert(session, alert, now)
    if row is None:
        return None
    return QueuedAlert.of(row)
