"""The HTTP endpoint under attack: endless bodies, drips, floods and replayed signatures."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from sqlalchemy.engine import Engine

from monitor.slack.http import MAX_BODY, ReplayGuard
from tests.slack.support import (
    App,
    actions,
    click_payload,
    fixture,
    interaction_body,
    mention_row,
    post_alert,
    push_body,
    request_head,
    signed,
    start_app,
)
from tests.support.fake_slack import FakeSlack, fake_slack

BUTTON = "block_actions_button_from_docs.json"
ENDLESS = 300 * 1024 * 1024  # what the attack in issue 18 sent
BOUND = 32 * 1024 * 1024  # socket buffers on both sides, and the bounded linger, fit in this


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def app(sqlite_engine: Engine, slack: FakeSlack) -> Iterator[App]:
    started = start_app(sqlite_engine, slack)
    yield started
    started.stop()


@pytest.mark.parametrize(
    ("head", "status"),
    [
        pytest.param(request_head("-1"), b"400", id="Content-Length -1"),
        pytest.param(request_head(None, chunked=True), b"411", id="chunked, no length"),
        pytest.param(request_head(str(ENDLESS)), b"413", id="300 MB declared"),
        pytest.param(request_head("1e9"), b"400", id="Content-Length 1e9"),
    ],
)
def test_a_body_without_an_acceptable_length_is_refused_before_it_is_read(
    app: App, head: bytes, status: bytes
) -> None:
    upload = push_body(app.http.url, head, ENDLESS, chunked=b"chunked" in head)
    assert upload.answer.split(b" ")[1:2] == [status], upload.answer
    assert not upload.finished_before_answer  # answered while the client was still sending
    assert upload.sent < BOUND  # then hung up: the other 290 MB were never taken in
    assert actions(app.engine) == []


def test_a_signed_body_over_the_cap_is_refused_with_413(app: App) -> None:
    body = urlencode({"payload": "{}", "pad": "x" * MAX_BODY}).encode()
    response = app.post(body, signed(body))
    assert response.status_code == 413
    assert actions(app.engine) == []


def test_a_signed_click_just_under_the_cap_is_applied(app: App) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    payload = click_payload(BUTTON, mention_id, message, app.response_url)
    payload["message"]["text"] = "😡" * 5000  # what a long alert's text fallback weighs
    body = interaction_body(payload)
    assert 60_000 < len(body) < MAX_BODY
    assert app.post(body, signed(body)).status_code == 200
    app.settle()
    assert mention_row(app.engine, mention_id).claimed_by == "Amy McGee"


def test_a_replayed_signed_click_is_refused_and_changes_nothing(app: App) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    body = interaction_body(click_payload(BUTTON, mention_id, message, app.response_url))
    headers = signed(body)
    assert app.post(body, headers).status_code == 200
    app.settle()
    replayed = app.post(body, headers)
    app.settle()
    assert replayed.status_code == 401
    (row,) = actions(app.engine)  # the replay left no second attempt behind
    assert (row.user_name, row.outcome) == ("Amy McGee", "applied")
    assert len(message.updates) == 1
    assert app.responses.bodies == []


def test_a_replayed_slash_command_is_answered_once(app: App) -> None:
    form = fixture("slash_command_from_docs.json")
    form.update(text="report 7d", response_url=app.response_url)
    body = urlencode(form).encode()
    headers = signed(body)
    statuses = [app.post(body, headers).status_code for _ in range(3)]
    app.settle()
    assert statuses == [200, 401, 401]
    assert len(app.responses.wait(1)) == 1


@pytest.mark.parametrize("skew", [-6 * 60, 6 * 60], ids=["6 minutes old", "6 minutes ahead"])
def test_a_timestamp_outside_the_five_minute_window_is_refused(app: App, skew: int) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    body = interaction_body(click_payload(BUTTON, mention_id, message, app.response_url))
    assert app.post(body, signed(body, at=time.time() + skew)).status_code == 401
    app.settle()
    assert mention_row(app.engine, mention_id).claimed_by is None
    assert actions(app.engine) == []


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Slack-Request-Timestamp", "abc"),
        ("X-Slack-Request-Timestamp", ""),
        ("X-Slack-Request-Timestamp", "1e3"),
        ("X-Slack-Signature", "v0=" + "é" * 64),
        ("X-Slack-Signature", "v1=" + "0" * 64),
    ],
)
def test_a_malformed_signature_header_is_refused_quietly(
    app: App, header: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    """slack_sdk's verifier raises on these: a 500 and a traceback per request, if let through."""
    body = b"command=%2Fmonitor&text=status"
    headers = {**signed(body), header: value}
    response = app.post(body, {k.encode(): v.encode() for k, v in headers.items()})
    app.settle()
    assert response.status_code == 401
    assert [r.levelname for r in caplog.records if r.levelno >= 40] == []  # no ERROR, no trace
    assert app.responses.bodies == []


@pytest.mark.parametrize(
    "body",
    [b"payload=%5B1%5D", b"payload=%7Bnot+json", b"payload=%22text%22", b"\xff\xfe=1"],
    ids=["a JSON list", "not JSON", "a JSON string", "not UTF-8"],
)
def test_a_signed_payload_that_is_not_a_json_object_gets_400(app: App, body: bytes) -> None:
    assert app.post(body, signed(body)).status_code == 400
    app.settle()
    assert actions(app.engine) == []


def test_the_open_link_button_is_acknowledged_and_changes_nothing(app: App) -> None:
    mention_id, message = post_alert(app.engine, app.slack)
    payload = click_payload(BUTTON, mention_id, message, app.response_url)
    payload["actions"][0]["action_id"] = "open_mention"
    body = interaction_body(payload)
    assert app.post(body, signed(body)).status_code == 200  # not Bolt's 404 for no listener
    app.settle()
    assert actions(app.engine) == [] and message.updates == []


def test_the_replay_guard_forgets_a_signature_once_its_window_is_over() -> None:
    """Memory stays bounded: a signature is kept only while Slack's window could accept it."""
    now = [1_800_000_000.0]
    guard = ReplayGuard(clock=lambda: now[0], max_entries=2)
    assert guard._first_time("v0=a", "1800000000")
    assert not guard._first_time("v0=a", "1800000000")
    assert guard._first_time("v0=b", "1800000000")
    assert not guard._first_time("v0=c", "1800000000")  # full: refused rather than grown
    now[0] += 5 * 60 + 2
    assert guard._first_time("v0=c", "1800000302")  # the old ones expired and were dropped
    assert guard._seen == {"v0=c"}


def drip(connection: socket.socket, stop: threading.Event) -> None:
    """A request line, one byte every 0.1 s, until the server hangs up."""
    try:
        for byte in b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 10_000:
            if stop.is_set():
                return
            connection.send(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass


def closed_without_answer(connection: socket.socket) -> bool:
    try:
        return connection.recv(4096) == b""
    except ConnectionResetError:
        return True


def test_a_dripping_peer_is_hung_up_on_and_its_slot_freed(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    app = start_app(sqlite_engine, slack, deadline=1.0, max_connections=1)
    host, port = app.http.server.server_address[:2]
    stop = threading.Event()
    dripping = socket.create_connection((str(host), port), timeout=30)
    dripper = threading.Thread(target=drip, args=(dripping, stop))
    dripper.start()
    try:
        # the one slot is held by the dripper: another connection is closed at once
        with socket.create_connection((str(host), port), timeout=30) as other:
            body = b"ssl_check=1"
            other.sendall(request_head(str(len(body))) + body)
            assert closed_without_answer(other)
        started = time.monotonic()
        assert closed_without_answer(dripping)  # the deadline passed: hung up
        assert time.monotonic() - started < 20  # liveness bound, far above the 1 s deadline
        body = b"ssl_check=1&token=x"
        assert app.post(body, signed(body)).status_code == 200  # the slot is free again
    finally:
        stop.set()
        dripper.join(30)
        dripping.close()
        app.stop()
