"""The state enums store, format and serialise as their plain values (no migration needed)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.states import AlertKind, AlertState, MentionStatus, SentimentLabel, SlaState
from monitor.store.db import session
from monitor.store.models import Alert, Mention

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_members_are_their_values_in_strings_json_and_csv() -> None:
    kind = AlertKind.SLA_BREACHED
    assert f"{kind}:7" == "sla_breached:7"  # alert keys are built this way
    assert str(kind) == "sla_breached"
    assert "%s" % MentionStatus.OPEN == "open"  # noqa: UP031 (log lines format this way)
    assert json.dumps({SentimentLabel.NEGATIVE: [AlertState.SENT]}) == '{"negative": ["sent"]}'
    out = io.StringIO()
    csv.writer(out).writerow([MentionStatus.EXPIRED, SlaState.ON_TRACK])
    assert out.getvalue() == "expired,on_track\r\n"
    # a plain string read back from the database finds the member's dictionary entry
    badges: dict[str, str] = {SentimentLabel.UNSCORED: "[???]"}
    assert badges["unscored"] == "[???]"


def test_the_database_keeps_the_plain_values(engine: Engine) -> None:
    """Defaults and explicit members land as the same strings the migrations and old rows use."""
    with session(engine) as s:
        s.add(Mention(platform="import", feed="f1", external_id="a", created_at=T0, fetched_at=T0))
        s.add(
            Mention(
                platform="import",
                feed="f1",
                external_id="b",
                created_at=T0,
                fetched_at=T0,
                status=MentionStatus.EXPIRED,
                sentiment=SentimentLabel.NEGATIVE,
                sla_state=SlaState.AT_RISK,
            )
        )
        s.add(
            Alert(
                key="k", kind=AlertKind.FEED_HEALTH, channel="#c", next_attempt_at=T0, created_at=T0
            )
        )
        s.commit()
    with engine.connect() as conn:
        mentions = conn.execute(
            sa.text("SELECT status, sentiment, sla_state FROM mention ORDER BY external_id")
        ).all()
        alerts = conn.execute(sa.text("SELECT kind, state FROM alert")).all()
    assert [tuple(row) for row in mentions] == [
        ("open", "unscored", None),
        ("expired", "negative", "at_risk"),
    ]
    assert [tuple(row) for row in alerts] == [("feed_health", "pending")]
    # and a stored value compares equal to its member when read back through the ORM
    with session(engine) as s:
        [alert] = s.exec(select(Alert)).all()
        assert alert.state == AlertState.PENDING and alert.kind == AlertKind.FEED_HEALTH
