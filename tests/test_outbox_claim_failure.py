"""A delivered alert stays recorded when claiming the lane's next alert fails."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.base import AlertMessage
from monitor.alerting import messages, outbox
from monitor.alerting.outbox import Dispatcher
from monitor.store.db import session
from monitor.store.models import Alert
from tests.test_dispatch_lanes import NOW, RecordingSink, add_alerts


def test_an_alert_sent_stays_sent_when_the_next_claim_fails(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outcome of one alert and the claim of the next are one commit. A claim that raises
    # (a bug drawing the next message, a lost connection) must not take the first alert's
    # outcome with it: it was posted, and left pending it is looked up again every round,
    # and what threads under it waits for a first message that never counts as posted.
    drawn = messages.plain_message

    def draw(alert: Alert) -> AlertMessage:
        if alert.key == "feed_health:#a:1":
            raise RuntimeError("cannot draw this one")
        return drawn(alert)

    monkeypatch.setattr(outbox, "plain_message", draw)
    add_alerts(engine, ["#a"], 2)
    sink = RecordingSink()
    with pytest.raises(RuntimeError):
        Dispatcher(engine, sink, pace=0, clock=lambda: NOW).run_once(NOW)
    assert sink.posted == [("#a", "feed_health:#a:0")]
    with session(engine) as s:
        rows = s.exec(select(Alert).order_by(col(Alert.id))).all()
        first, second = rows
        assert (first.state, first.slack_ts) == ("sent", "1700000000.000001")
        assert (second.state, second.slack_ts) == ("pending", None)
