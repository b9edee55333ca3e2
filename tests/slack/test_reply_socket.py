"""The Reply button over Socket Mode: the click, the modal, the submission's ack payload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy.engine import Engine

pytest.importorskip("websockets", reason="pip install websockets (a test dependency)")

from tests.slack.reply_world import (
    MENTION_ID,
    NOW,
    REPLY_AT,
    WRITE_TOKEN,
    Mastodon,
    alert_mention,
    click,
    mastodon_server,
    replies,
    reply_actions,
    submission,
    writing_config,
)
from tests.slack.socket_server import Ack, socket_mode_server
from tests.slack.support import mention_row
from tests.slack.test_socket_mode import Connected
from tests.support.fake_slack import FakeSlack, fake_slack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def mastodon() -> Iterator[Mastodon]:
    with mastodon_server() as server:
        yield server


@pytest.fixture
def connected(
    sqlite_engine: Engine,
    slack: FakeSlack,
    mastodon: Mastodon,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Connected]:
    config = writing_config(slack, mastodon, monkeypatch)
    with socket_mode_server() as server:
        world = Connected(sqlite_engine, slack, server, config)
        world.actions.clock = lambda: NOW
        world.actions.replies.service.clock = lambda: NOW
        world.listener.start()
        try:
            yield world
        finally:
            world.listener.stop()
            world.actions.close()


def _envelope(connected: Connected, payload: dict[str, Any], envelope_id: str) -> Ack:
    envelope = connected.envelope("socket_mode_envelope_from_docs.json", payload)
    envelope["envelope_id"] = envelope_id
    # Slack lets a view_submission's ack carry the response (the docs' accepts_response_payload)
    envelope["accepts_response_payload"] = payload.get("type") == "view_submission"
    connected.server.send(envelope)
    return connected.server.wait_ack(envelope_id)


def test_a_reply_through_socket_mode_posts_once_and_records_it(
    connected: Connected, mastodon: Mastodon
) -> None:
    config = connected.actions.config
    mention_id, message = alert_mention(connected.engine, connected.slack, config)
    _envelope(connected, click(mention_id, message, connected.response_url), "e-click")
    assert connected.actions.wait_idle(15)
    ((method, opened),) = connected.slack.views
    assert method == "views.open"

    ack = _envelope(connected, submission(opened, "Sorry! We are on it."), "e-submit")
    assert ack.after < 3.0
    answer = ack.body["payload"]
    assert answer["response_action"] == "update"
    assert "Posting your reply" in json.dumps(answer["view"])
    assert connected.actions.wait_idle(15)

    (post,) = mastodon.posts
    assert post.headers["authorization"] == f"Bearer {WRITE_TOKEN}"
    assert parse_qs(post.body.decode())["in_reply_to_id"] == [MENTION_ID]
    mention = mention_row(connected.engine, mention_id)
    assert (mention.status, mention.first_response_at) == ("answered", REPLY_AT)
    (row,) = replies(connected.engine)
    assert (row.state, row.recorded) == ("posted", True)
    (action,) = reply_actions(connected.engine)
    assert (action.source, action.outcome) == ("socket", "posted")
    assert "Posted on mastodon" in json.dumps(connected.slack.views[-1][1])


def test_a_length_over_the_platforms_limit_is_refused_in_the_ack(
    connected: Connected, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(connected.engine, connected.slack, connected.actions.config)
    _envelope(connected, click(mention_id, message, connected.response_url), "e-click")
    assert connected.actions.wait_idle(15)
    ((_method, opened),) = connected.slack.views
    ack = _envelope(connected, submission(opened, "x" * 501), "e-long")
    answer = ack.body["payload"]
    assert answer["response_action"] == "errors"
    (error,) = answer["errors"].values()
    assert "at most 500 characters" in error and "by 1" in error
    assert connected.actions.wait_idle(15)
    assert mastodon.posts == []
    assert mention_row(connected.engine, mention_id).status == "open"
