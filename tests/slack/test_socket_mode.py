"""Socket Mode through slack_sdk's built-in client against a local socket-mode server."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from monitor.config import Config
from monitor.slack.access import NOT_ALLOWED
from monitor.slack.app import SlackActions, SocketModeListener

# the local socket-mode server needs `websockets` (test extra; see the report to the lead)
pytest.importorskip("websockets", reason="pip install websockets (a test dependency)")

from tests.slack.socket_server import SocketModeServer, socket_mode_server
from tests.slack.support import (
    NOW,
    Responses,
    actions,
    block_text,
    click_payload,
    fixture,
    last_update_blocks,
    make_config,
    mention_row,
    post_alert,
    sink,
)
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import Reply, Request

APP_TOKEN = "xapp-1-A01K58AR4RF-1234-abcdef"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


class Connected:
    def __init__(
        self,
        engine: Engine,
        slack: FakeSlack,
        server: SocketModeServer,
        config: Config | None = None,
    ) -> None:
        self.engine, self.slack, self.server = engine, slack, server
        self.opened: list[Request] = []
        self.responses = Responses()
        slack.server.route("/response/*", self.responses)
        slack.server.route("/api/apps.connections.open", self._open)
        self.actions = SlackActions(config or make_config(), engine, sink(slack), clock=lambda: NOW)
        self.listener = SocketModeListener(self.actions, APP_TOKEN, api_url=slack.api_url)

    def _open(self, request: Request) -> Reply:
        self.opened.append(request)
        answer = fixture("apps_connections_open_from_docs.json")
        answer["url"] = self.server.url  # the documented wss:// URL, pointed at our server
        return Reply.json(answer)

    @property
    def response_url(self) -> str:
        return self.slack.server.url + "/response/T123567/1509734234"

    def envelope(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        envelope = copy.deepcopy(fixture(name))
        envelope["payload"] = payload
        return envelope


@pytest.fixture
def connected(sqlite_engine: Engine, slack: FakeSlack) -> Iterator[Connected]:
    with socket_mode_server() as server:
        world = Connected(sqlite_engine, slack, server)
        world.listener.start()
        try:
            yield world
        finally:
            world.listener.stop()
            world.actions.close()


def test_hello_then_an_interactive_envelope_is_acked_and_the_click_applied(
    connected: Connected,
) -> None:
    mention_id, message = post_alert(connected.engine, connected.slack)
    payload = click_payload(
        "block_actions_button_from_docs.json", mention_id, message, connected.response_url
    )
    envelope = connected.envelope("socket_mode_envelope_from_docs.json", payload)
    connected.server.send(envelope)
    ack = connected.server.wait_ack(envelope["envelope_id"])
    assert ack.body == {"envelope_id": "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545"}
    assert ack.after < 3.0
    assert connected.actions.wait_idle(15)
    # apps.connections.open was called with the app-level token, then the WebSocket opened
    (opened,) = connected.opened
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert connected.server.paths == ["/link/?ticket=12348&app_id=5678"]
    assert mention_row(connected.engine, mention_id).claimed_by == "Amy McGee"
    (row,) = actions(connected.engine)
    assert (row.action, row.outcome, row.source) == ("claim", "applied", "socket")
    assert ":raising_hand: claimed by @Amy McGee" in block_text(last_update_blocks(message))


def test_the_ack_goes_out_before_the_slow_work(connected: Connected) -> None:
    mention_id, message = post_alert(connected.engine, connected.slack)
    update = connected.slack.server.routes["/api/chat.update"]

    def slow_update(request: Request) -> Reply:
        time.sleep(4)
        return update(request)

    connected.slack.server.route("/api/chat.update", slow_update)
    payload = click_payload(
        "block_actions_button_from_docs.json", mention_id, message, connected.response_url
    )
    envelope = connected.envelope("socket_mode_envelope_from_docs.json", payload)
    connected.server.send(envelope)
    ack = connected.server.wait_ack(envelope["envelope_id"])
    assert ack.after < 1.0
    assert message.updates == []  # still redrawing when the ack was already sent
    assert connected.actions.wait_idle(15)
    assert len(message.updates) == 1


def test_a_slash_command_envelope_is_acked_and_answered_in_the_channel(
    connected: Connected,
) -> None:
    post_alert(connected.engine, connected.slack)
    form = fixture("slash_command_from_docs.json")
    form.update(text="report 7d", response_url=connected.response_url)
    envelope = connected.envelope("socket_mode_slash_envelope_from_docs.json", form)
    connected.server.send(envelope)
    ack = connected.server.wait_ack(envelope["envelope_id"])
    assert ack.body == {"envelope_id": "1d3c79ab-0ffb-41f3-a080-d19e85f53649"}
    assert connected.actions.wait_idle(15)
    (answer,) = connected.responses.wait(1)
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith("*Acme: the last 7d*")
    assert "• mentions: 1" in answer["text"]


def test_a_click_by_someone_not_allowed_is_acked_refused_and_recorded(
    sqlite_engine: Engine, slack: FakeSlack
) -> None:
    with socket_mode_server() as server:
        world = Connected(sqlite_engine, slack, server, make_config(allowed_users=["U0ANA"]))
        world.listener.start()
        try:
            mention_id, message = post_alert(world.engine, world.slack)
            payload = click_payload(
                "block_actions_button_from_docs.json", mention_id, message, world.response_url
            )
            envelope = world.envelope("socket_mode_envelope_from_docs.json", payload)
            server.send(envelope)
            assert server.wait_ack(envelope["envelope_id"]).after < 3.0
            assert world.actions.wait_idle(15)
            assert mention_row(world.engine, mention_id).claimed_by is None
            (row,) = actions(world.engine)
            assert (row.user_id, row.outcome, row.source) == ("U0CA5", "refused", "socket")
            (note,) = world.responses.wait(1)
            assert (note["text"], note["response_type"]) == (NOT_ALLOWED, "ephemeral")
            assert message.updates == []
        finally:
            world.listener.stop()
            world.actions.close()
