"""The Slack sink and the dispatcher against a fake Slack Web API on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from alerts.base import AlertMessage
from alerts.escape import escape
from alerts.slack import SlackSink
from monitor.alerting.outbox import Dispatcher
from monitor.store.db import session
from monitor.store.models import Alert, Mention
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Reply

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HOSTILE = (
    "<!channel> wake up <@U123> and <!here> see <https://evil.example/phish|click here> "
    "&amp; @channel @everyone \x00\x07\x1b[31m red \u202e reversed"
)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def sink_for(slack: FakeSlack, token: str = "xoxb-test-token") -> SlackSink:
    return SlackSink(token, base_url=slack.api_url, timeout=5)


def add_alert(engine: Engine, text: str = "This is terrible", **alert: object) -> int:
    with session(engine) as s:
        mention = Mention(
            platform="reddit",
            feed="acme-reddit",
            external_id="t3_x",
            url="https://www.reddit.com/r/acme/comments/x/",
            author="<@U999>",
            title="<!channel> Title",
            text=text,
            created_at=NOW - timedelta(minutes=30),
            fetched_at=NOW,
            sentiment="negative",
            polarity=-0.8,
        )
        s.add(mention)
        s.flush()
        row = Alert(
            key=f"negative:{mention.id}",
            mention_id=mention.id,
            kind="negative",
            channel="#support",
            next_attempt_at=NOW,
            created_at=NOW,
            **alert,  # type: ignore[arg-type]
        )
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def alert_row(engine: Engine, alert_id: int) -> Alert:
    with session(engine) as s:
        row = s.get(Alert, alert_id)
        assert row is not None
        return row


def all_text(payload: object) -> list[str]:
    """Every string in a JSON payload."""
    if isinstance(payload, str):
        return [payload]
    if isinstance(payload, dict):
        return [t for v in payload.values() for t in all_text(v)]
    if isinstance(payload, list):
        return [t for v in payload for t in all_text(v)]
    return []


def test_hostile_text_pings_nobody_and_smuggles_no_link(slack: FakeSlack) -> None:
    message = AlertMessage(
        key="k1",
        kind="negative",
        headline="<!channel> Negative mention",
        text=HOSTILE + " " + "x" * 100_000,
        title=HOSTILE,
        author="<!everyone>",
        source="reddit · <!here>",
        url="https://www.reddit.com/r/acme/comments/x/",
        sentiment="negative",
        rating=1,
    )
    result = sink_for(slack).post("#support", message)
    assert result.ok and result.ts
    [posted] = slack.messages
    strings = all_text(posted.raw)
    joined = "\n".join(strings)
    for forbidden in (
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123>",
        "<@U999>",
        "<https://evil",
    ):
        assert forbidden not in joined
    assert (
        "&lt;!channel&gt;" in joined and "&lt;https://evil.example/phish|click here&gt;" in joined
    )
    assert "@channel" not in joined and "@everyone" not in joined  # a word joiner breaks them
    assert not any(ch in joined for ch in "\x00\x07\x1b\u202e")
    assert len(json.dumps(posted.raw)) < 20_000, "100 KB of text must be cut"
    assert all(len(t) <= 3000 for t in strings)
    assert posted.raw["unfurl_links"] is False and posted.raw["unfurl_media"] is False
    assert posted.text, "the fallback text is always set"
    assert posted.metadata == {
        "event_type": "brand_monitor_alert",
        "event_payload": {"alert_key": "k1", "mention_id": 0},
    }
    # the only link is the mention's own, in a button
    buttons = [b for b in posted.blocks if b["type"] == "actions"]
    assert buttons[0]["elements"][0]["url"] == "https://www.reddit.com/r/acme/comments/x/"


def test_escape_cuts_on_the_escaped_form_without_breaking_an_entity() -> None:
    escaped = escape("<" * 5000, limit=100)
    assert len(escaped) <= 100 and escaped.endswith("…")
    assert escaped[:-1].replace("&lt;", "") == ""


def test_dispatcher_sends_once_and_records_the_ts(slack: FakeSlack, sqlite_engine: Engine) -> None:
    alert_id = add_alert(sqlite_engine)
    dispatcher = Dispatcher(sqlite_engine, sink_for(slack), pace=0, clock=lambda: NOW)
    assert dispatcher.run_once(NOW).sent == 1
    assert dispatcher.run_once(NOW).sent == 0
    row = alert_row(sqlite_engine, alert_id)
    assert row.state == "sent" and row.slack_ts == slack.messages[0].ts and row.attempts == 1
    assert len(slack.messages) == 1


def test_429_with_retry_after_is_honoured_then_delivered_once(
    slack: FakeSlack, sqlite_engine: Engine
) -> None:
    alert_id = add_alert(sqlite_engine)
    limited = Reply.json({"ok": False, "error": "ratelimited"}, status=429, **{"Retry-After": "1"})
    slack.script.extend([limited, limited])  # the SDK retries once itself; the 2nd comes back
    dispatcher = Dispatcher(sqlite_engine, sink_for(slack), pace=0, clock=lambda: NOW)
    report = dispatcher.run_once(NOW)
    assert (report.sent, report.failed) == (0, 1)
    row = alert_row(sqlite_engine, alert_id)
    assert row.state == "pending" and row.last_error == "ratelimited"
    assert row.next_attempt_at == NOW + timedelta(seconds=1)
    assert dispatcher.run_once(NOW).sent == 0, "not due before Retry-After"
    later = NOW + timedelta(seconds=2)
    dispatcher.clock = lambda: later
    # the attempt that got a 429 is reconciled from history first: nothing was posted
    assert dispatcher.run_once(later).sent == 1
    assert len(slack.messages) == 1


def test_500_is_retried_with_backoff(slack: FakeSlack, sqlite_engine: Engine) -> None:
    alert_id = add_alert(sqlite_engine)
    slack.script.append(Reply(500, b"upstream error"))
    dispatcher = Dispatcher(sqlite_engine, sink_for(slack), pace=0, clock=lambda: NOW)
    assert dispatcher.run_once(NOW).failed == 1
    row = alert_row(sqlite_engine, alert_id)
    assert row.state == "pending" and NOW < row.next_attempt_at <= NOW + timedelta(seconds=2)
    assert dispatcher.run_once(NOW + timedelta(seconds=3)).sent == 1
    assert len(slack.messages) == 1


def test_a_permanent_error_keeps_the_alert_and_logs_once(
    slack: FakeSlack, sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    first = add_alert(sqlite_engine)
    dispatcher = Dispatcher(sqlite_engine, sink_for(slack, "xoxb-wrong"), pace=0, clock=lambda: NOW)
    with caplog.at_level(logging.ERROR):
        dispatcher.run_once(NOW)
        dispatcher.run_once(NOW + timedelta(hours=1))
    row = alert_row(sqlite_engine, first)
    assert row.state == "failed" and row.last_error == "invalid_auth" and row.attempts == 2
    assert [r.message for r in caplog.records].count(
        "alerts to #support cannot be delivered: invalid_auth (kept, will retry)"
    ) == 1
    assert "xoxb-wrong" not in caplog.text
    # the operator fixes the token: the same row goes out, once
    fixed = Dispatcher(sqlite_engine, sink_for(slack), pace=0, clock=lambda: NOW)
    assert fixed.run_once(NOW + timedelta(hours=2)).sent == 1
    assert len(slack.messages) == 1


def test_a_send_that_reached_slack_before_a_crash_is_not_repeated(
    slack: FakeSlack, sqlite_engine: Engine
) -> None:
    alert_id = add_alert(sqlite_engine)
    sink = sink_for(slack)
    # the process posted, then died before recording the ts: attempts=1, no ts
    with session(sqlite_engine) as s:
        row = s.get(Alert, alert_id)
        assert row is not None
        row.attempts = 1
        s.add(row)
        s.commit()
        key = row.key
    sink.post("#support", AlertMessage(key=key, kind="negative", headline="first try"))
    dispatcher = Dispatcher(sqlite_engine, sink, pace=0, clock=lambda: NOW)
    report = dispatcher.run_once(NOW)
    assert (report.sent, report.reconciled) == (0, 1)
    assert len(slack.messages) == 1
    assert alert_row(sqlite_engine, alert_id).slack_ts == slack.messages[0].ts


def test_sends_to_one_channel_are_paced(slack: FakeSlack, sqlite_engine: Engine) -> None:
    clock = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    for n in range(3):
        with session(sqlite_engine) as s:
            s.add(
                Alert(
                    key=f"x:{n}",
                    kind="feed_health",
                    channel="#ops",
                    body=f"feed {n} down",
                    next_attempt_at=NOW,
                    created_at=NOW,
                )
            )
            s.commit()
    dispatcher = Dispatcher(
        sqlite_engine, sink_for(slack), pace=1.0, sleep=sleep, monotonic=lambda: clock[0]
    )
    assert dispatcher.run_once(NOW).sent == 3
    assert waits == [1.0, 1.0], "one message per second per channel"
    with session(sqlite_engine) as s:
        assert all(a.state == "sent" for a in s.exec(select(Alert)))
