"""Claim / Snooze / Dismiss appear only when something serves the clicks; `run` says which."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.alerting.sinks import clicks_served
from monitor.config import Config
from tests.slack.support import make_config
from tests.support.fake_slack import FakeSlack, fake_slack
from tests.support.http_server import LocalServer, Reply, local_server
from tests.test_end_to_end import FEED, wait_for, write_config

pytestmark = pytest.mark.e2e
CLICK_ACTIONS = {"monitor_claim", "monitor_handled", "monitor_snooze", "monitor_dismiss"}
SLACK_ENV = ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET")


@pytest.fixture
def feed_server() -> Iterator[LocalServer]:
    with local_server() as server:
        server.route("/feed.atom", Reply(200, FEED.read_bytes()))
        yield server


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_until_first_alert(config: Path, slack: FakeSlack, env: dict[str, str], log: Path) -> str:
    """`monitor run` with exactly `env` for Slack; returns its log once an alert has arrived."""
    # The recorded feed's entries are years old: kept open (not expired by the first sweep,
    # which can run before the first send on a busy machine), each alert carries its buttons.
    config.write_text(config.read_text() + '\n[sla]\nexpire_after = "5000d"\n', encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k not in SLACK_ENV}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            env={**clean, "SLACK_BOT_TOKEN": slack.token, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: len(slack.messages) >= 1, 60, "the first alert")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    return log.read_text()


def clickable(slack: FakeSlack) -> set[str]:
    return {
        element.get("action_id", "")
        for message in slack.messages
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    } & CLICK_ACTIONS


def test_with_only_the_bot_token_alerts_carry_no_buttons_and_run_says_so(
    tmp_path: Path, feed_server: LocalServer, slack: FakeSlack
) -> None:
    config = write_config(tmp_path, feed_server.url + "/feed.atom", slack)
    log = run_until_first_alert(config, slack, {}, tmp_path / "run.log")
    assert clickable(slack) == set()
    # the mention's own link stays: it needs nobody to serve it
    assert any(
        element.get("action_id") == "open_mention"
        for block in slack.messages[0].blocks
        if block["type"] == "actions"
        for element in block["elements"]
    )
    assert log.count("Slack buttons: off") == 1, log
    assert "SLACK_APP_TOKEN" in log


def test_with_the_signed_http_endpoint_alerts_carry_the_buttons(
    tmp_path: Path, feed_server: LocalServer, slack: FakeSlack
) -> None:
    config = write_config(tmp_path, feed_server.url + "/feed.atom", slack)
    port = free_port()
    text = config.read_text().replace("[slack]\n", f"[slack]\nhttp_port = {port}\n")
    config.write_text(text, encoding="utf-8")
    env = {"SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5"}
    log = run_until_first_alert(config, slack, env, tmp_path / "run.log")
    assert clickable(slack) == CLICK_ACTIONS
    assert f"clicks are served by the HTTP endpoint on 127.0.0.1:{port}" in log
    assert "8f742231b10e8888abcd99yyyzzz85a5" not in log


@pytest.mark.parametrize(
    ("slack_config", "env", "served"),
    [
        ({}, {}, None),
        ({}, {"SLACK_APP_TOKEN": "xapp-1"}, "Socket Mode (SLACK_APP_TOKEN)"),
        ({"http_port": 3000}, {}, None),  # a port without the secret stays off
        ({"http_port": 3000}, {"SLACK_SIGNING_SECRET": "s"}, "the HTTP endpoint on 127.0.0.1:3000"),
    ],
)
def test_clicks_are_served_by_socket_mode_or_a_signed_http_endpoint(
    monkeypatch: pytest.MonkeyPatch,
    slack_config: dict[str, object],
    env: dict[str, str],
    served: str | None,
) -> None:
    for name in SLACK_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config: Config = make_config(**slack_config)
    assert clicks_served(config) == served
