"""The Reply button end to end on every platform with a writer, over the signed HTTP endpoint
and over Socket Mode: Slack, the platform and the database all real, on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from alerts.escape import escape
from monitor.config import Config, parse_config
from monitor.slack.app import SlackActions
from monitor.slack.http import HttpListener
from monitor.store.db import session
from monitor.store.models import BrandReplyRow, Mention
from tests.slack.reply_platforms import CASES, TEXT, Case, Write, form
from tests.slack.reply_world import (
    ALLOWED,
    alert_stored,
    click,
    dispatch,
    replies,
    reply_actions,
    submission,
)
from tests.slack.support import (
    SECRET,
    App,
    Responses,
    action_ids,
    interaction_body,
    last_update_blocks,
    mention_row,
    signed,
    sink,
)
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import LocalServer, Request, local_server

pytest.importorskip("websockets", reason="pip install websockets (a test dependency)")

from tests.slack.socket_server import socket_mode_server
from tests.slack.test_socket_mode import Connected

# 30 cases, half over Socket Mode, whose client takes 3 s to close: about 80 s in all
pytestmark = pytest.mark.e2e

_ENVELOPES = itertools.count(1)


class Slack(Protocol):
    """Where the agent's clicks come in: `send` a payload, get the ack's body back."""

    source: str
    actions: SlackActions
    response_url: str

    def send(self, payload: dict[str, Any]) -> dict[str, Any] | None: ...


class Http:
    source = "http"

    def __init__(self, app: App) -> None:
        self.app = app
        self.actions = app.actions
        self.response_url = app.response_url

    def send(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        body = interaction_body(payload)
        answer = self.app.post(body, signed(body))
        assert answer.status_code == 200, answer.text
        self.app.settle()
        found: dict[str, Any] | None = answer.json() if answer.content else None
        return found


class Socket:
    source = "socket"

    def __init__(self, world: Connected) -> None:
        self.world = world
        self.actions = world.actions
        self.response_url = world.response_url

    def send(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        envelope = self.world.envelope("socket_mode_envelope_from_docs.json", payload)
        envelope["envelope_id"] = f"e-{next(_ENVELOPES)}"
        # a view_submission's ack may carry the response (the docs' accepts_response_payload)
        envelope["accepts_response_payload"] = payload.get("type") == "view_submission"
        self.world.server.send(envelope)
        ack = self.world.server.wait_ack(envelope["envelope_id"])
        assert ack.after < 3.0  # Slack's deadline, whatever the platform takes
        assert self.actions.wait_idle(15)
        found: dict[str, Any] | None = ack.body.get("payload")
        return found


@contextmanager
def listening(
    transport: str, engine: Engine, slack: FakeSlack, config: Config, now: datetime
) -> Iterator[Slack]:
    """The Slack app's listener of `transport`, its clock at `now`."""
    if transport == "http":
        actions = SlackActions(config, engine, sink(slack), clock=lambda: now)
        listener = HttpListener(actions.bolt_app(SECRET), port=0)
        listener.start()
        responses = Responses()
        slack.server.route("/response/*", responses)
        app = App(actions, listener, slack, responses, engine)
        try:
            yield Http(app)
        finally:
            app.stop()
        return
    with socket_mode_server() as server:
        world = Connected(engine, slack, server, config)
        world.actions.clock = lambda: now
        world.actions.replies.service.clock = lambda: now
        world.listener.start()
        try:
            yield Socket(world)
        finally:
            world.listener.stop()
            world.actions.close()


def _config(slack: FakeSlack, case: Case) -> Config:
    feed = {"name": case.target.feed, "channel": "#support", **case.feed}
    return parse_config(
        {
            "brand": {"name": "Acme"},
            "slack": {"api_url": slack.api_url, "reply_allowed": [ALLOWED]},
            "sla": {"target": "1h", "clock": "calendar"},
            "feeds": [feed],
        }
    )


def _stored(case: Case) -> Mention:
    """The mention as the feed's read connector stored it."""
    target = case.target
    fields: dict[str, Any] = {
        "platform": target.platform,
        "feed": target.feed,
        "external_id": target.external_id,
        "url": target.url,
        "author": target.author,
        "author_id": target.author_id,
        "title": target.title,
        "parent_id": target.parent_id,
        "thread_id": target.thread_id,
        "text": target.text,
        "created_at": target.created_at,
        "fetched_at": target.created_at,
        **case.mention,
    }
    return Mention(sentiment="negative", polarity=-0.6, **fields)


def _the_write(platform: LocalServer, write: Write) -> Request:
    """The write request, received once, exactly as the platform documents it."""
    found = [r for r in platform.requests if (r.method, r.path) == (write.method, write.path)]
    assert len(found) == 1, [(r.method, r.path) for r in platform.requests]
    (request,) = found
    sent = form(request) if write.form else request.json()
    if write.partial:
        _contains(sent, write.body)
    else:
        assert sent == write.body
    assert {k: request.query.get(k) for k in write.query} == write.query
    assert {k: request.headers.get(k) for k in write.auth} == write.auth
    if write.check is not None:
        write.check(request)
    # nothing the platform was asked to create was asked twice (a login, a container...)
    creating = Counter((r.method, r.path) for r in platform.requests if r.method != "GET")
    assert set(creating.values()) == {1}, creating
    return request


def _contains(sent: Any, expected: Any) -> None:
    if isinstance(expected, dict):
        assert isinstance(sent, dict)
        for key, value in expected.items():
            assert key in sent, key
            _contains(sent[key], value)
    else:
        assert sent == expected


@pytest.mark.parametrize("transport", ["http", "socket"])
@pytest.mark.parametrize("platform", list(CASES))
def test_a_reply_from_slack_is_posted_once_on_the_platform_and_stops_the_clock(
    platform: str,
    transport: str,
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fake_slack() as slack, local_server() as server:
        case = CASES[platform](server, tmp_path)
        for name, value in case.env.items():
            monkeypatch.setenv(name, value)
        config = _config(slack, case)
        monkeypatch.setenv(config.slack.token_env, slack.token)  # views.open is the bot's call
        # the agent submits a few seconds before the platform stamps the reply
        at = case.reply_at or case.target.created_at + timedelta(minutes=1)
        now = at - timedelta(seconds=5)
        mention_id, message = alert_stored(sqlite_engine, slack, config, _stored(case), now)
        assert "monitor_reply" in action_ids(message.blocks)

        with listening(transport, sqlite_engine, slack, config, now) as app:
            app.send(click(mention_id, message, app.response_url))
            ((method, opened),) = slack.views
            assert method == "views.open"
            ack = app.send(submission(opened, TEXT))
            assert ack is not None and ack["response_action"] == "update"

            write = _the_write(server, case.write)
            reply_id, reply_at = case.outcome(write)
            ttfr = case.ttfr
            if ttfr is None:  # the writer stamped the reply (Bluesky): from the request
                ttfr = (reply_at - case.target.created_at).total_seconds()
            by = escape(case.by or "the brand")  # as Slack shows it

            # answered at the platform's own time: the TTFR is exact
            mention = mention_row(sqlite_engine, mention_id)
            assert mention.status == "answered"
            assert mention.first_response_at == reply_at
            assert mention.first_response_by == case.by
            assert mention.ttfr_seconds == pytest.approx(ttfr, abs=1e-3)
            with session(sqlite_engine) as s:
                (brand_reply,) = s.exec(select(BrandReplyRow)).all()
            assert (brand_reply.platform, brand_reply.external_id) == (platform, reply_id)
            assert brand_reply.in_reply_to == case.target.external_id
            assert brand_reply.created_at == reply_at
            (row,) = replies(sqlite_engine)
            assert (row.state, row.recorded, row.reply_id) == ("posted", True, reply_id)
            assert row.reply_at == reply_at
            (action,) = reply_actions(sqlite_engine)
            assert (action.outcome, action.source, action.user_id) == (
                "posted",
                transport,
                ALLOWED,
            )
            assert action.text == TEXT
            # the modal says so; the alert is redrawn answered, without the Reply button
            method, update = slack.views[-1]
            assert method == "views.update"
            assert f"Posted on {platform} as {by}." in json.dumps(update)
            redrawn = last_update_blocks(message)
            assert "monitor_reply" not in action_ids(redrawn)
            assert f"answered by {by}" in json.dumps(redrawn)

            # the thread says who answered from Slack, as whom, and what
            assert dispatch(sqlite_engine, slack, config, now) == 2  # the note, the update
            note = next(m for m in slack.messages if m.thread_ts == message.ts)
            said = json.dumps(note.blocks) if note.blocks else note.text
            assert f"Reply sent from Slack by Amy McGee as {by} on {platform}" in said
            assert TEXT in said

            # the same modal submitted again (a double click, Slack's retry): nothing more
            asked = len(server.requests)
            app.send(submission(opened, TEXT))
            assert len(server.requests) == asked
            assert [a.outcome for a in reply_actions(sqlite_engine)] == ["posted", "lost"]
            assert "Already answered from Slack" in json.dumps(slack.views[-1][1])
            assert mention_row(sqlite_engine, mention_id).first_response_at == reply_at
