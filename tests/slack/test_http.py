"""The signed HTTP endpoint: documented payloads posted over a real socket to `monitor`."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy.engine import Engine

from alerts.slack import ACTION_DISMISS, ACTION_HANDLED
from monitor.slack.app import SlackApp
from tests.slack.support import (
    NOW,
    SECRET,
    App,
    action_ids,
    actions,
    block_text,
    click_payload,
    fixture,
    interaction_body,
    last_update_blocks,
    make_config,
    mention_row,
    post_alert,
    signed,
    sink,
    start_app,
)
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Request

BUTTON = "block_actions_button_from_docs.json"
SELECT = "block_actions_static_select_from_docs.json"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def app(sqlite_engine: Engine, slack: FakeSlack) -> Iterator[App]:
    started = start_app(sqlite_engine, slack)
    yield started
    started.http.stop()
    started.actions.close()


def test_a_signed_claim_is_acked_applied_recorded_and_redrawn_in_place(app: App) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    assert "monitor_claim" in action_ids(message.blocks)  # the alert as first posted
    body = interaction_body(click_payload(BUTTON, mention_id, message, app.response_url))
    response = app.post(body, signed(body))
    assert response.status_code == 200 and response.content == b""
    app.settle()
    mention = mention_row(app.engine, mention_id)
    assert (mention.claimed_by, mention.claimed_at) == ("Amy McGee", NOW)
    (row,) = actions(app.engine)
    assert (row.action, row.user_id, row.user_name, row.outcome, row.source) == (
        "claim",
        "U0CA5",
        "Amy McGee",
        "applied",
        "http",
    )
    assert (row.channel_id, row.message_ts) == ("Csupport", message.ts)
    blocks = last_update_blocks(message)
    assert message.updates[-1]["ts"] == message.ts  # chat.update of the same message
    assert ":raising_hand: claimed by @Amy McGee" in block_text(blocks)
    assert action_ids(blocks) == [
        "monitor_handled",
        "monitor_snooze",
        "monitor_dismiss",
        "open_mention",
    ]
    assert app.responses.bodies == []  # the winner sees the message; no private note


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: signed(body, secret="not-the-secret"), id="wrong secret"),
        pytest.param(lambda body: signed(body, at=time.time() - 6 * 60), id="stale 6 minutes"),
        pytest.param(lambda body: signed(body + b"&x=1"), id="body changed after signing"),
        pytest.param(
            lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, id="unsigned"
        ),
    ],
)
def test_a_bad_or_stale_signature_gets_401_and_changes_nothing(app: App, headers: object) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    body = interaction_body(click_payload(BUTTON, mention_id, message, app.response_url))
    response = app.post(body, headers(body))  # type: ignore[operator]
    assert response.status_code == 401
    app.settle()
    assert mention_row(app.engine, mention_id).claimed_by is None
    assert actions(app.engine) == []
    assert message.updates == [] and app.responses.bodies == []


def test_the_ack_does_not_wait_for_slack(app: App) -> None:
    """chat.update takes 4 s here; Slack's 3-second limit is still met."""
    mention_id, message = post_alert(app.engine, app.slack)
    update = app.slack.server.routes["/api/chat.update"]

    def slow_update(request: Request) -> object:
        time.sleep(4)
        return update(request)

    app.slack.server.route("/api/chat.update", slow_update)  # type: ignore[arg-type]
    body = interaction_body(click_payload(BUTTON, mention_id, message, app.response_url))
    started = time.monotonic()
    response = app.post(body, signed(body))
    acked_after = time.monotonic() - started
    assert response.status_code == 200
    assert acked_after < 1.0
    app.settle()
    assert len(message.updates) == 1  # and the redraw did happen afterwards


def test_snooze_from_the_select_menu_holds_the_sla_for_four_hours(app: App) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    body = interaction_body(click_payload(SELECT, mention_id, message, app.response_url))
    assert app.post(body, signed(body)).status_code == 200
    app.settle()
    mention = mention_row(app.engine, mention_id)
    assert (mention.snoozed_until, mention.snoozed_by) == (NOW + timedelta(hours=4), "Amy McGee")
    (row,) = actions(app.engine)
    assert (row.action, row.value, row.outcome) == ("snooze", "4h", "applied")
    text = block_text(last_update_blocks(message))
    assert (
        ":zzz: SLA alerts snoozed until"
        " <!date^1795442400^{date_short_pretty} {time}|2026-11-23 14:00 UTC> by @Amy McGee"
    ) in text
    assert "by @Amy McGee" in text


def test_mark_handled_closes_the_alert_and_removes_the_buttons(app: App) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    payload = click_payload(BUTTON, mention_id, message, app.response_url, action_id=ACTION_HANDLED)
    body = interaction_body(payload)
    assert app.post(body, signed(body)).status_code == 200
    app.settle()
    assert mention_row(app.engine, mention_id).status == "handled"
    blocks = last_update_blocks(message)
    assert "marked handled by @Amy McGee (answered outside the monitored platforms)" in block_text(
        blocks
    )
    assert action_ids(blocks) == ["open_mention"]


def test_a_late_click_is_told_privately_who_was_first(app: App) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    first = click_payload(BUTTON, mention_id, message, app.response_url, action_id=ACTION_DISMISS)
    late = click_payload(BUTTON, mention_id, message, app.response_url, user=("U0BOB", "bob"))
    for payload in (first, late):
        body = interaction_body(payload)
        assert app.post(body, signed(body)).status_code == 200
        app.settle()
    (note,) = app.responses.wait(1)
    assert note == {
        "text": "Already dismissed by @Amy McGee at 2026-11-23 10:00 UTC.",
        "response_type": "ephemeral",
        "replace_original": False,
    }
    assert [(a.user_name, a.outcome) for a in actions(app.engine)] == [
        ("Amy McGee", "applied"),
        ("bob", "lost"),
    ]


def test_concurrent_clicks_one_winner_the_message_shows_it_both_attempts_recorded(
    engine: Engine, slack: FakeSlack
) -> None:
    app = start_app(engine, slack)
    try:
        mention_id, message = post_alert(engine, slack)
        people = [("U0ANA", "ana"), ("U0BOB", "bob"), ("U0CYD", "cyd")]
        bodies = [
            interaction_body(
                click_payload(BUTTON, mention_id, message, app.response_url, user=person)
            )
            for person in people
        ]
        barrier = threading.Barrier(len(bodies))
        statuses: list[int] = []

        def press(body: bytes) -> None:
            barrier.wait()
            statuses.append(app.post(body, signed(body)).status_code)

        threads = [threading.Thread(target=press, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        app.settle()
        assert statuses == [200, 200, 200]
        rows = actions(engine)
        assert sorted(a.user_name or "" for a in rows) == ["ana", "bob", "cyd"]
        (winner,) = [a.user_name for a in rows if a.outcome == "applied"]
        assert mention_row(engine, mention_id).claimed_by == winner
        # every redraw renders the database after the winner committed: all show the winner
        assert len(message.updates) == 3
        for update in message.updates:
            blocks = (
                json.loads(update["blocks"])
                if isinstance(update["blocks"], str)
                else update["blocks"]
            )
            assert f"claimed by @{winner}" in block_text(blocks)
        notes = app.responses.wait(2)
        assert (
            sorted(n["text"].split(" at ")[0] for n in notes)
            == [f"Already claimed by @{winner}"] * 2
        )
    finally:
        app.http.stop()
        app.actions.close()


def slash_body(text: str, response_url: str) -> bytes:
    form = fixture("slash_command_from_docs.json")
    form.update(text=text, response_url=response_url)
    return urlencode(form).encode()


def test_slash_monitor_status_answers_in_the_channel_with_feed_health(app: App) -> None:
    post_alert(app.engine, app.slack)
    body = slash_body("status", app.response_url)
    response = app.post(body, signed(body))
    assert response.status_code == 200 and response.content == b""
    app.settle()
    (answer,) = app.responses.wait(1)
    assert answer["response_type"] == "in_channel"
    text = answer["text"]
    assert "acme-reddit (rss): never polled" in text
    assert "*Alerts*: 1 sent, 0 pending, 0 failing" in text
    assert "• mentions: 1" in text


def test_slash_monitor_report_7d_gives_the_headline_numbers(app: App) -> None:
    post_alert(app.engine, app.slack)
    body = slash_body("report 7d", app.response_url)
    assert app.post(body, signed(body)).status_code == 200
    app.settle()
    (answer,) = app.responses.wait(1)
    lines = answer["text"].splitlines()
    assert lines[0] == "*Acme: the last 7d* (mentions since 2026-11-16 10:00 UTC)"
    assert "• reply rate: 0 % (0 answered, 1 open, 0 expired)" in lines
    assert "• still open: 1" in lines


def test_a_signed_request_of_an_unknown_shape_is_refused_without_effect(app: App) -> None:
    body = b"hello=world"
    assert app.post(body, signed(body)).status_code == 400
    body = b"ssl_check=1&token=x"
    assert app.post(body, signed(body)).status_code == 200
    app.settle()
    assert actions(app.engine) == []


def test_a_taken_port_is_reported_and_the_service_goes_on(
    sqlite_engine: Engine, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = SlackApp(make_config(http_port=port), sqlite_engine, sink(slack))
        problems = app.start()
        app.stop()
    assert app.listeners == []
    assert len(problems) == 1 and problems[0].startswith(f"HTTP endpoint on port {port} failed")
