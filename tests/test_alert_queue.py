"""The outbox's one way in: a key is queued once, a page of new keys in one statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from monitor.alerting.queue import NewAlert, is_queued, queue_alert, queue_new
from monitor.states import AlertKind, AlertState
from monitor.store.models import Alert

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _health(key: str) -> NewAlert:
    return NewAlert(key=key, kind=AlertKind.FEED_HEALTH, channel="#ops", feed="f", body="down")


def test_a_key_is_queued_once_and_the_second_call_says_so(engine: Engine) -> None:
    with Session(engine) as session:
        first = queue_alert(session, _health("feed_health:f:1"), NOW)
        again = queue_alert(session, _health("feed_health:f:1"), NOW)
        assert first is not None and first.id is not None
        assert again is None
        session.commit()
    with Session(engine) as session:
        rows = session.exec(select(Alert)).all()
    assert [(r.key, r.state, r.channel, r.body, r.next_attempt_at) for r in rows] == [
        ("feed_health:f:1", AlertState.PENDING, "#ops", "down", NOW)
    ]


def test_a_page_of_new_alerts_is_one_insert_and_a_repeat_is_refused(engine: Engine) -> None:
    alerts = [
        NewAlert(key=f"negative:{n}", kind=AlertKind.NEGATIVE, channel="#support", route="r")
        for n in range(3)
    ]
    with Session(engine) as session:
        queued = queue_new(session, alerts, NOW)
        session.commit()
        assert [q.key for q in queued] == ["negative:0", "negative:1", "negative:2"]
        assert is_queued(session, "negative:1") and not is_queued(session, "negative:9")
        with pytest.raises(IntegrityError):
            queue_new(session, alerts[:1], NOW)
        session.rollback()
        assert len(session.exec(select(Alert)).all()) == 3
