"""Who may click: `[slack] allowed_users` / `allowed_groups`, refused clicks kept as refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from monitor.config import ConfigError, parse_config
from monitor.slack.access import NOT_ALLOWED, UNCHECKED, AccessList
from tests.slack.support import (
    NOW,
    App,
    action_ids,
    actions,
    block_text,
    click_payload,
    interaction_body,
    last_update_blocks,
    make_config,
    mention_row,
    post_alert,
    signed,
    start_app,
)
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Reply, Request

BUTTON = "block_actions_button_from_docs.json"
SELECT = "block_actions_static_select_from_docs.json"
AMY = ("U0CA5", "Amy McGee")  # the clicker in Slack's documented payload
BOB = ("U0BOB", "bob")
GROUP = "S0SUPPORT"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


class Groups:
    """usergroups.users.list on the fake Slack: the members of GROUP, or an error."""

    def __init__(self, slack: FakeSlack, members: list[str]) -> None:
        self.members = members
        self.error: str | None = None
        self.calls: list[Request] = []
        slack.server.route("/api/usergroups.users.list", self)

    def __call__(self, request: Request) -> Reply:
        self.calls.append(request)
        if self.error:
            return Reply.json({"ok": False, "error": self.error})
        return Reply.json({"ok": True, "users": self.members})


def click(app: App, user: tuple[str, str], name: str = BUTTON) -> tuple[int, int]:
    """Post an alert and click it as `user`; (mention id, HTTP status)."""
    created = NOW - timedelta(minutes=20 + len(app.slack.messages))  # a new mention each time
    mention_id, message = post_alert(app.engine, app.slack, created)
    body = interaction_body(click_payload(name, mention_id, message, app.response_url, user=user))
    status = app.post(body, signed(body)).status_code
    app.settle()
    return mention_id, status


def start(engine: Engine, slack: FakeSlack, **keys: object) -> App:
    return start_app(engine, slack, make_config(api_url=slack.api_url, **keys))


def test_a_click_by_someone_not_listed_is_refused_privately_and_recorded(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    app = start(sqlite_engine, slack, allowed_users=["U0ANA"])
    try:
        mention_id, status = click(app, AMY)
        assert status == 200  # acked like any click; the refusal is the private note
        mention = mention_row(app.engine, mention_id)
        assert (mention.claimed_by, mention.status) == (None, "open")
        (row,) = actions(app.engine)
        assert (row.mention_id, row.action, row.user_id, row.outcome, row.detail) == (
            mention_id,
            "claim",
            "U0CA5",
            "refused",
            NOT_ALLOWED,
        )
        (note,) = app.responses.wait(1)
        assert note == {
            "text": NOT_ALLOWED,
            "response_type": "ephemeral",
            "replace_original": False,
        }
        assert app.slack.messages[-1].updates == []  # nothing changed, nothing redrawn
    finally:
        app.stop()


def test_a_listed_user_s_click_is_applied_exactly_as_without_a_list(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    app = start(sqlite_engine, slack, allowed_users=["U0ANA", "U0CA5"])
    try:
        mention_id, status = click(app, AMY)
        assert status == 200
        mention = mention_row(app.engine, mention_id)
        assert (mention.claimed_by, mention.claimed_at) == ("Amy McGee", NOW)
        (row,) = actions(app.engine)
        assert (row.action, row.user_id, row.outcome, row.source) == (
            "claim",
            "U0CA5",
            "applied",
            "http",
        )
        blocks = last_update_blocks(app.slack.messages[-1])
        assert ":raising_hand: claimed by @Amy McGee" in block_text(blocks)
        assert "monitor_claim" not in action_ids(blocks)
        assert app.responses.bodies == []
    finally:
        app.stop()


def test_members_of_an_allowed_group_may_act_others_may_not_and_the_list_is_cached(
    sqlite_engine: Engine, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    groups = Groups(slack, ["U0CA5", "U0CYD"])
    app = start(sqlite_engine, slack, allowed_groups=[GROUP])
    try:
        amy_mention, _ = click(app, AMY, SELECT)  # a snooze: another of the four buttons
        bob_mention, _ = click(app, BOB)
        assert mention_row(app.engine, amy_mention).snoozed_by == "Amy McGee"
        assert mention_row(app.engine, bob_mention).claimed_by is None
        assert [(a.user_name, a.action, a.outcome) for a in actions(app.engine)] == [
            ("Amy McGee", "snooze", "applied"),
            ("bob", "claim", "refused"),
        ]
        (call,) = groups.calls  # two clicks, one lookup: the members are cached
        assert call.headers["authorization"] == f"Bearer {slack.token}"
        body = call.body.decode() + call.path
        assert f"usergroup={GROUP}" in body
    finally:
        app.stop()


def test_when_slack_cannot_list_the_group_the_click_is_refused_and_says_why(
    sqlite_engine: Engine, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    groups = Groups(slack, ["U0CA5"])
    groups.error = "missing_scope"  # the app was installed before usergroups:read was added
    app = start(sqlite_engine, slack, allowed_groups=[GROUP])
    try:
        mention_id, _ = click(app, AMY)
        assert mention_row(app.engine, mention_id).claimed_by is None
        (row,) = actions(app.engine)
        assert (row.outcome, row.detail) == ("refused", UNCHECKED)
        assert [note["text"] for note in app.responses.wait(1)] == [UNCHECKED]
    finally:
        app.stop()


def test_group_membership_is_read_again_once_the_cache_is_old(slack: FakeSlack) -> None:
    groups = Groups(slack, ["U0CA5"])
    now = [0.0]
    access = AccessList(
        [], [GROUP], WebClient(token=slack.token, base_url=slack.api_url), clock=lambda: now[0]
    )
    assert access.refusal("U0CA5") is None
    groups.members = []  # Amy leaves the group
    now[0] = 299.0
    assert access.refusal("U0CA5") is None  # still cached
    now[0] = 301.0
    assert access.refusal("U0CA5") == NOT_ALLOWED
    assert len(groups.calls) == 2


def test_without_lists_anyone_may_act_and_no_lookup_is_made(slack: FakeSlack) -> None:
    groups = Groups(slack, [])
    access = AccessList([], [], WebClient(token=slack.token, base_url=slack.api_url))
    assert not access.restricted
    assert access.refusal("U0ANYONE") is None
    assert groups.calls == []


def test_without_a_bot_token_group_members_cannot_be_checked() -> None:
    access = AccessList(["U0ANA"], [GROUP], client=None)
    assert access.refusal("U0ANA") is None  # listed by ID: no lookup needed
    assert access.refusal("U0CA5") == UNCHECKED


def test_names_instead_of_ids_are_refused_with_where_to_find_the_id() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"slack": {"allowed_users": ["@ana"], "allowed_groups": ["support-team"]}})
    assert caught.value.problems == [
        "slack.allowed_users[0]: '@ana' is not a Slack user ID"
        " (U0123ABCD: profile -> ⋮ -> Copy member ID; not a name)",
        "slack.allowed_groups[0]: 'support-team' is not a Slack user group ID"
        " (S0123ABCD, as usergroups.list shows it; not a handle)",
    ]


def test_the_slack_app_leaves_the_monitor_s_own_log_lines_on(
    sqlite_engine: Engine, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    # Bolt configures the logger named after its app from the one it is given (WARNING,
    # to keep request bodies out of the log) when it handles a request: the app once took
    # the name "monitor", and a click turned every monitor INFO line off
    ours = logging.getLogger("monitor")
    level, filters = ours.level, list(ours.filters)
    app = start(sqlite_engine, slack)
    _, status = click(app, AMY)
    assert status == 200
    assert (ours.level, ours.filters) == (level, filters)
    with caplog.at_level(logging.INFO):
        logging.getLogger("monitor.ingest.pipeline").info("feed acme: 3 new")
    assert "feed acme: 3 new" in caplog.text
