"""The Reply button end to end over the signed HTTP endpoint: Slack and Mastodon on sockets."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.states import AlertKind
from monitor.store.db import session
from monitor.store.models import Alert, Mention
from tests.slack.reply_world import (
    MENTION_ID,
    NOW,
    REPLY_AT,
    Clock,
    Mastodon,
    alert_mention,
    click,
    dispatch,
    http_app,
    mastodon_server,
    open_modal,
    replies,
    reply_actions,
    send,
    submission,
    writing_config,
)
from tests.slack.support import (
    App,
    action_ids,
    fixture,
    last_update_blocks,
    mention_row,
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
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(
    sqlite_engine: Engine,
    slack: FakeSlack,
    mastodon: Mastodon,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[App]:
    config = writing_config(slack, mastodon, monkeypatch)
    with http_app(sqlite_engine, slack, config, clock) as world:
        yield world


def test_a_reply_posts_once_records_the_brand_reply_and_tells_the_thread(
    app: App, mastodon: Mastodon
) -> None:
    config = app.actions.config
    mention_id, message = alert_mention(app.engine, app.slack, config)
    assert "monitor_reply" in action_ids(message.blocks)

    opened = open_modal(app, mention_id, message)
    assert str(opened["trigger_id"]).startswith("12466734323.")
    view = opened["view"]
    quoted = json.dumps(view["blocks"])
    # the customer's words quoted, escaped: no ping, no smuggled mention
    assert "my order never arrived &lt;@U0ADMIN&gt; &lt;!channel&gt;" in quoted
    text_input = next(b for b in view["blocks"] if b["type"] == "input")["element"]
    # Mastodon counts a link as 23: Slack's box cannot count so, the submission is checked
    assert text_input["max_length"] == 3000

    typed = "Sorry about that! <b>DM us</b> & we'll fix it"
    ack = send(app, submission(opened, typed))
    assert ack is not None and ack["response_action"] == "update"
    assert "Posting your reply" in json.dumps(ack["view"])

    # exactly the documented request, with the write token and an idempotency key
    (post,) = mastodon.posts
    assert post.path == "/api/v1/statuses"
    assert post.headers["authorization"] == "Bearer mastodon-write-token-5e3a"
    assert post.headers["idempotency-key"].startswith(f"srm-{mention_id}-1-")
    assert parse_qs(post.body.decode()) == {
        "status": [typed],
        "in_reply_to_id": [MENTION_ID],
        "visibility": ["public"],
    }
    # the brand's reply at the platform's own time: the TTFR is exact
    mention = mention_row(app.engine, mention_id)
    assert mention.status == "answered"
    assert mention.first_response_at == REPLY_AT
    assert mention.first_response_by == "admin"
    assert mention.ttfr_seconds == pytest.approx(195.91)
    (row,) = replies(app.engine)
    assert (row.state, row.recorded, row.reply_id) == ("posted", True, "117020583258292382")
    (action,) = reply_actions(app.engine)
    assert (action.outcome, action.user_id, action.text) == ("posted", "U0CA5", typed)
    assert action.source == "http"
    # the modal says so, the alert is redrawn without the Reply button
    method, update = app.slack.views[-1]
    assert method == "views.update" and "Posted on mastodon as admin" in json.dumps(update)
    redrawn = last_update_blocks(message)
    assert "monitor_reply" not in action_ids(redrawn)
    assert "answered by admin" in json.dumps(redrawn)

    # the thread: who replied from Slack and what, then the answered note
    assert dispatch(app.engine, app.slack, config) == 2
    thread = [m for m in app.slack.messages if m.thread_ts == message.ts]
    note = json.dumps(thread[0].blocks) if thread[0].blocks else thread[0].text
    assert "Reply sent from Slack by Amy McGee as admin on mastodon" in note
    assert "&lt;b&gt;DM us&lt;/b&gt; &amp; we'll fix it" in note
    with session(app.engine) as s:
        kinds = sorted(a.kind for a in s.exec(select(Alert).where(Alert.mention_id == mention_id)))
    assert kinds == sorted(["negative", AlertKind.REPLY_NOTE, AlertKind.ANSWERED_UPDATE])


def test_a_second_submission_posts_nothing_more(app: App, mastodon: Mastodon) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    second_modal = open_modal(app, mention_id, message)  # a double click opened two modals
    send(app, submission(opened, "We are on it"))
    send(app, submission(second_modal, "We are on it too"))
    assert len(mastodon.posts) == 1
    _method, update = app.slack.views[-1]
    assert "Already" in json.dumps(update)
    outcomes = [a.outcome for a in reply_actions(app.engine)]
    assert outcomes == ["posted", "lost"]


def test_someone_not_allowed_is_refused_and_it_is_kept(app: App, mastodon: Mastodon) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    send(app, click(mention_id, message, app.response_url, user="U0OTHER"))
    assert app.slack.views == []
    (said,) = app.responses.wait(1)
    assert said["response_type"] == "ephemeral"
    assert "You may not reply as the brand" in said["text"]
    (action,) = reply_actions(app.engine)
    assert (action.outcome, action.user_id) == ("refused", "U0OTHER")
    # a submission from a modal someone else opened is refused too, under the text box
    opened = open_modal(app, mention_id, message)
    ack = send(app, submission(opened, "hi", user="U0OTHER"))
    assert ack is not None and ack["response_action"] == "errors"
    assert mastodon.posts == []


def test_a_refusal_shows_the_platforms_words_keeps_the_text_and_a_retry_posts(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    mastodon.answers.append(Reply.json({"error": "Validation failed: Text is spam"}, 422))
    send(app, submission(opened, "Buy now"))
    _method, form = app.slack.views[-1]
    shown = json.dumps(form["view"])
    assert "Validation failed: Text is spam" in shown and "nothing was posted" in shown
    assert '"initial_value": "Buy now"' in shown  # kept to fix and send again
    assert mention_row(app.engine, mention_id).status == "open"
    # fixed and sent again: a new attempt with a new key posts
    send(app, submission(form, "Sorry, we are on it"))
    assert len(mastodon.created) == 1
    keys = [p.headers["idempotency-key"] for p in mastodon.posts]
    assert len(set(keys)) == 2 and keys[1].startswith(f"srm-{mention_id}-2-")
    assert mention_row(app.engine, mention_id).status == "answered"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (Reply.json({"error": "Too many requests"}, 429, **{"Retry-After": "120"}), "wait 120 s"),
        (Reply.json({"error": "The access token is invalid"}, 401), "write credentials"),
    ],
)
def test_rate_limits_and_bad_tokens_are_told_and_nothing_is_answered(
    app: App, mastodon: Mastodon, answer: Reply, said: str
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    mastodon.answers.append(answer)
    send(app, submission(opened, "Hello"))
    assert said in json.dumps(app.slack.views[-1][1])
    assert mention_row(app.engine, mention_id).status == "open"
    assert [a.outcome for a in reply_actions(app.engine)] == ["failed"]
    assert "mastodon-write-token" not in json.dumps(app.slack.views)


def test_a_reset_after_mastodon_created_the_status_posts_it_once(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    mastodon.answers.append(Reply(reset_after=True))  # created, then the answer is lost
    send(app, submission(opened, "On it"))
    assert len(mastodon.created) == 1
    assert mention_row(app.engine, mention_id).first_response_at == REPLY_AT
    assert [a.outcome for a in reply_actions(app.engine)] == ["posted"]


def test_a_server_error_is_uncertain_and_nothing_is_sent_again_until_looked_for(
    app: App, mastodon: Mastodon, clock: Clock
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    mastodon.answers.append(Reply(502, b"bad gateway"))
    send(app, submission(opened, "On it"))
    assert "may have been posted" in json.dumps(app.slack.views[-1][1]) or "looked for" in (
        json.dumps(app.slack.views[-1][1])
    )
    assert replies(app.engine)[0].state == "unknown"
    # at once again: too soon to conclude from the thread that nothing was posted
    send(app, submission(opened, "On it"))
    assert len(mastodon.posts) == 1
    assert "Try again in a minute" in json.dumps(app.slack.views[-1][1])
    # later: the thread shows no reply of ours, so the new attempt goes out, once
    clock.now = NOW + timedelta(minutes=3)
    send(app, submission(opened, "On it"))
    assert len(mastodon.created) == 1
    assert mention_row(app.engine, mention_id).status == "answered"


def test_a_refusal_while_looking_falls_back_to_the_same_key_and_posts_once(
    app: App, mastodon: Mastodon
) -> None:
    mention_id, message = alert_mention(app.engine, app.slack, app.actions.config)
    opened = open_modal(app, mention_id, message)
    mastodon.answers.append(Reply(reset_after=True))  # created, answer lost
    mastodon.server.route(
        "/api/v1/accounts/verify_credentials", Reply.json({"error": "rate limited"}, 429)
    )
    send(app, submission(opened, "On it"))
    # the thread could not be read (429), so the request went again under its key, and
    # Mastodon answered with the status it had created: one status, recorded
    keys = [p.headers["idempotency-key"] for p in mastodon.posts]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(mastodon.created) == 1
    assert mention_row(app.engine, mention_id).first_response_at == REPLY_AT
    assert [a.outcome for a in reply_actions(app.engine)] == ["posted"]


def test_canned_replies_for_the_mentions_language_fill_the_text_box(
    sqlite_engine: Engine, slack: FakeSlack, mastodon: Mastodon, monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = [
        {"name": "Excuses", "language": "nl", "text": "Sorry hiervoor!"},
        {"name": "Sorry", "text": "Sorry about this!"},
        {"name": "Entschuldigung", "language": "de", "text": "Tut uns leid!"},
    ]
    config = writing_config(slack, mastodon, monkeypatch, reply={"templates": templates})
    with http_app(sqlite_engine, slack, config, lambda: NOW) as app:
        mention_id, message = alert_mention(sqlite_engine, slack, config)
        with session(sqlite_engine) as s:
            row = s.get(Mention, mention_id)
            assert row is not None
            row.language = "nl"
            s.add(row)
            s.commit()
        opened = open_modal(app, mention_id, message)
        picker = next(b for b in opened["view"]["blocks"] if b.get("block_id") == "templates")
        names = [o["text"]["text"] for o in picker["elements"][0]["options"]]
        assert names == ["Excuses", "Sorry"]  # Dutch first, then those for every language
        pick = copy.deepcopy(fixture("block_actions_static_select_from_docs.json"))
        pick["container"] = {"type": "view", "view_id": "VNHU13V36"}
        pick["view"] = {
            "id": "VNHU13V36",
            "hash": "156663117.cd33ad1f",
            "private_metadata": opened["view"]["private_metadata"],
        }
        pick["actions"][0].update(
            action_id="monitor_reply_template",
            selected_option={"text": {"type": "plain_text", "text": "Excuses"}, "value": "0"},
        )
        send(app, pick)
        method, update = slack.views[-1]
        assert method == "views.update" and update["view_id"] == "VNHU13V36"
        assert update["hash"] == "156663117.cd33ad1f"
        box = next(b for b in update["view"]["blocks"] if b["type"] == "input")
        assert box["block_id"] == "reply_1"  # a new box, or Slack would keep the old text
        assert box["element"]["initial_value"] == "Sorry hiervoor!"
        # what the agent then submits from the redrawn box is what is posted
        send(app, submission(update, "Sorry hiervoor! Stuur ons een DM."))
        assert parse_qs(mastodon.posts[0].body.decode())["status"] == [
            "Sorry hiervoor! Stuur ons een DM."
        ]
