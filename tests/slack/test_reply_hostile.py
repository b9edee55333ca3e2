"""The Reply button on a hostile day: odd text, forged metadata, secrets, over the HTTP endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from monitor.config import parse_config
from monitor.replying.writers import reply_feeds
from monitor.slack import reply_modal
from monitor.slack.access import AccessList
from monitor.slack.reply_modal import Limits
from tests.slack.reply_world import (
    ALLOWED,
    Clock,
    Mastodon,
    alert_mention,
    click,
    http_app,
    mastodon_server,
    open_modal,
    replies,
    reply_actions,
    reply_config,
    send,
    submission,
    writing_config,
)
from tests.slack.support import (
    App,
    interaction_body,
    mention_row,
    signed,
)
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Reply


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def mastodon() -> Iterator[Mastodon]:
    with mastodon_server() as server:
        yield server


@pytest.fixture
def app(
    engine: Engine,
    slack: FakeSlack,
    mastodon: Mastodon,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[App]:
    """The endpoint on SQLite and on PostgreSQL (where a NUL in text is refused)."""
    config = writing_config(slack, mastodon, monkeypatch)
    with http_app(engine, slack, config, Clock()) as world:
        yield world


def test_a_nul_in_the_typed_reply_is_told_under_the_box_and_kept(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    ack = send(app, submission(opened, "Sorry\x00 we are on it"))
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
    opened = open_modal(app, mention_id, message)
    send(app, submission(opened, "On it"))
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
    send(app, click(mention_id, message, app.response_url))
    (said,) = app.responses.wait(1)
    assert "cannot reply from Slack now" in said["text"]
    assert app.slack.views == [] and mastodon.posts == []


def test_someone_removed_from_reply_allowed_after_the_click_is_refused_on_submit(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    app.actions.replies.access = AccessList(["U0SOMEONEELSE"], [], None)
    ack = send(app, submission(opened, "On it"))
    assert ack is not None and ack["response_action"] == "errors"
    assert "You may not reply as the brand" in json.dumps(ack["errors"])
    assert mastodon.posts == [] and replies(app.engine) == []
    (action,) = reply_actions(app.engine)
    assert (action.outcome, action.user_id, action.text) == ("refused", ALLOWED, "On it")


@pytest.mark.parametrize(
    "metadata",
    ['{"m": "1"}', '{"m": 1.0}', '{"m": null}', "[1]", "not json", '{"m": 99999999999999999999}'],
)
def test_forged_private_metadata_posts_nothing(app: App, mastodon: Mastodon, metadata: str) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    payload = submission(opened, "On it")
    payload["view"]["private_metadata"] = metadata
    ack = send(app, payload)
    assert ack is not None and "can no longer be answered" in json.dumps(ack)
    assert mastodon.posts == [] and replies(app.engine) == []


def test_a_hostile_platform_error_is_capped_escaped_and_storable(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    words = "<!channel> *Spam* \u202eevil\x00 <https://x.example|click> " + "y" * 5000
    mastodon.answers.append(Reply.json({"error": words}, 422))
    send(app, submission(opened, "Buy now"))
    _method, form = app.slack.views[-1]
    shown = json.dumps(form["view"])
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert "\\u202e" not in shown and "\\u0000" not in shown and "<https://x.example" not in shown
    assert len(shown) < 5000
    (row,) = replies(app.engine)
    assert row.state == "failed" and row.error is not None and len(row.error) <= 500
    (action,) = reply_actions(app.engine)
    assert action.outcome == "failed" and "\x00" not in (action.detail or "")


def test_the_reply_button_only_where_someone_may_answer_with_credentials(
    app: App, slack: FakeSlack, mastodon: Mastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = app.actions.config
    assert reply_feeds(config) == {"acme-mastodon"}
    nobody = reply_config(slack, mastodon)
    nobody.slack.reply_allowed = []
    assert reply_feeds(nobody) == frozenset()
    monkeypatch.delenv("ACME_MASTODON_WRITE")
    assert reply_feeds(config) == frozenset()
    assert app.actions.replies.service.writer("acme-mastodon") is None


def test_templates_for_the_mentions_language_first_then_for_all(
    slack: FakeSlack, mastodon: Mastodon
) -> None:
    config = reply_config(
        slack,
        mastodon,
        reply={
            "templates": [
                {"name": "Sorry, DM us", "text": "Sorry! DM us"},
                {"name": "Excuses", "language": "nl", "text": "Sorry! Stuur ons een DM"},
                {"name": "Perdón", "language": "es", "text": "¡Perdón! Escríbenos"},
            ]
        },
    )
    names = [t.name for t in config.reply.templates_for("nl")]
    assert names == ["Excuses", "Sorry, DM us"]
    assert [t.name for t in config.reply.templates_for("en")] == ["Sorry, DM us"]
    assert [t.name for t in config.reply.templates_for(None)] == ["Sorry, DM us"]


def test_two_submissions_at_the_same_instant_post_once(app: App, mastodon: Mastodon) -> None:
    """A double click on Post reply, or Slack sending the submission again: both arrive
    together at the endpoint, and on PostgreSQL the two begin() race for real."""
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    bodies = [interaction_body(submission(opened, "On it")) for _ in range(2)]
    barrier = threading.Barrier(2)

    def submit(body: bytes) -> None:
        barrier.wait()
        assert app.post(body, signed(body)).status_code == 200

    threads = [threading.Thread(target=submit, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    app.settle()
    assert len(mastodon.created) == 1
    assert sorted(a.outcome for a in reply_actions(app.engine)) == ["lost", "posted"]
    assert mention_row(app.engine, mention_id).status == "answered"
