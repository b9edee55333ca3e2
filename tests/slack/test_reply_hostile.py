"""The Reply button on a hostile day: odd text, forged metadata, secrets, over the HTTP endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from monitor.config import parse_config
from monitor.slack import reply_modal
from monitor.slack.app import SlackActions
from monitor.slack.http import HttpListener
from monitor.slack.reply_modal import Limits
from tests.slack.reply_world import (
    ALLOWED,
    NOW,
    WRITE_TOKEN,
    Mastodon,
    alert_mention,
    click,
    mastodon_server,
    replies,
    reply_actions,
    reply_config,
    submission,
)
from tests.slack.support import (
    SECRET,
    App,
    Responses,
    interaction_body,
    mention_row,
    signed,
    sink,
)
from tests.support.fake_slack import FakeSlack, Posted, fake_slack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def mastodon() -> Iterator[Mastodon]:
    with mastodon_server() as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app(
    engine: Engine,
    slack: FakeSlack,
    mastodon: Mastodon,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[App]:
    """The endpoint on SQLite and on PostgreSQL (where a NUL in text is refused)."""
    monkeypatch.setenv("ACME_MASTODON_WRITE", WRITE_TOKEN)
    config = reply_config(slack, mastodon)
    monkeypatch.setenv(config.slack.token_env, slack.token)
    actions = SlackActions(config, engine, sink(slack), clock=Clock())
    listener = HttpListener(actions.bolt_app(SECRET), port=0)
    listener.start()
    responses = Responses()
    slack.server.route("/response/*", responses)
    world = App(actions, listener, slack, responses, engine)
    try:
        yield world
    finally:
        world.stop()


def _send(app: App, payload: dict[str, Any]) -> dict[str, Any] | None:
    body = interaction_body(payload)
    answer = app.post(body, signed(body))
    assert answer.status_code == 200, answer.text
    app.settle()
    return answer.json() if answer.content else None


def _open(app: App, mention_id: int, message: Posted) -> dict[str, Any]:
    before = len(app.slack.views)
    _send(app, click(mention_id, message, app.response_url))
    views = app.slack.views[before:]
    assert [method for method, _ in views] == ["views.open"]
    return views[0][1]


def test_a_nul_in_the_typed_reply_is_told_under_the_box_and_kept(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = _open(app, mention_id, message)
    ack = _send(app, submission(opened, "Sorry\x00 we are on it"))
    assert ack is not None and ack["response_action"] == "errors", ack
    assert "cannot be posted" in json.dumps(ack["errors"])
    assert mastodon.posts == []
    assert replies(app.engine) == []
    (action,) = reply_actions(app.engine)
    assert (action.outcome, action.text) == ("failed", "Sorry we are on it")
    assert mention_row(app.engine, mention_id).status == "open"


def test_the_outcome_shows_its_emoji_and_escapes_only_what_came_from_outside(
    app: App, mastodon: Mastodon
) -> None:
    """The outcome line's ":white_check_mark:" went through escape() with the detail: its
    underscores got word joiners and the modal showed the shortcode as broken text."""
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = _open(app, mention_id, message)
    _send(app, submission(opened, "On it"))
    _method, update = app.slack.views[-1]
    (block,) = update["view"]["blocks"]
    assert block["text"]["text"].startswith(":white_check_mark: Posted on mastodon as admin")
    # what came from outside is still escaped
    line = reply_modal.outcome(
        Limits("mastodon", 500, "characters"), "<!channel> *was* refused", mark=":warning:"
    )
    text = line["blocks"][0]["text"]["text"]
    assert text.startswith(":warning: &lt;!channel&gt;") and "*was*" not in text


def test_reply_on_an_old_alert_of_a_feed_removed_from_the_config_is_answered(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    service = app.actions.replies.service
    service.config = parse_config(
        {"brand": {"name": "Acme"}, "slack": {"reply_allowed": [ALLOWED]}}
    )
    service._writers.clear()
    _send(app, click(mention_id, message, app.response_url))
    (said,) = app.responses.wait(1)
    assert "cannot reply from Slack now" in said["text"]
    assert app.slack.views == [] and mastodon.posts == []
