"""kill -9 while the platform holds the answer: the restarted listener records it, once."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from monitor.config import load_config
from monitor.store.db import open_store, session
from monitor.store.models import Alert, Mention, SlackReply
from tests.slack.reply_world import (
    ALLOWED,
    WRITE_TOKEN,
    Mastodon,
    click,
    dispatch,
    mastodon_server,
    reply_actions,
    submission,
)
from tests.slack.support import SECRET, interaction_body, signed
from tests.slack.test_cli import free_port, start, stop, wait_listening
from tests.support.fake_slack import FakeSlack, fake_slack

pytestmark = pytest.mark.e2e


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def mastodon() -> Iterator[Mastodon]:
    with mastodon_server() as server:
        server.stamp_now = True
        yield server


def _config(tmp_path: Path, slack: FakeSlack, mastodon: Mastodon, port: int) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{tmp_path / "monitor.db"}"

[brand]
name = "Acme"

[scheduler]
http_timeout = "1s"   # an attempt left posting is stale after 4 x 1 s + 10 s

[slack]
api_url = "{slack.api_url}"
default_channel = "#support"
http_port = {port}
reply_allowed = ["{ALLOWED}"]

[[feeds]]
name = "acme-mastodon"
type = "mastodon"
tag = "acme"
base_url = "{mastodon.server.url}"
channel = "#support"
reply = {{ token_env = "ACME_MASTODON_WRITE" }}
""",
        encoding="utf-8",
    )
    return config


def _send(url: str, payload: dict[str, Any]) -> httpx.Response:
    body = interaction_body(payload)
    return httpx.post(url, content=body, headers=signed(body), timeout=10)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_listener_killed_while_mastodon_holds_the_answer_is_settled_after_restart(
    tmp_path: Path, slack: FakeSlack, mastodon: Mastodon
) -> None:
    port = free_port()
    config_path = _config(tmp_path, slack, mastodon, port)
    env = {
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_APP_TOKEN": "",
        "ACME_MASTODON_WRITE": WRITE_TOKEN,
    }
    url = f"http://127.0.0.1:{port}/slack/events"
    log = tmp_path / "listen.log"
    first = start(["--config", str(config_path), "slack-listen"], env, log)
    try:
        wait_listening(url, log)
        engine = open_store(f"sqlite:///{tmp_path / 'monitor.db'}")
        created = datetime.now(UTC) - timedelta(minutes=10)
        with session(engine) as s:
            mention = Mention(
                platform="mastodon",
                feed="acme-mastodon",
                external_id="117020583245459824",
                author="mastodonpy_test_2",
                text="@acme where is my order",
                created_at=created,
                fetched_at=created,
                sentiment="negative",
            )
            s.add(mention)
            s.commit()
            mention_id = mention.id
        assert mention_id is not None
        with session(engine) as s:
            s.add(
                Alert(
                    key=f"negative:{mention_id}",
                    mention_id=mention_id,
                    feed="acme-mastodon",
                    kind="negative",
                    channel="#support",
                    next_attempt_at=created,
                    created_at=created,
                )
            )
            s.commit()
        config = load_config(config_path)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("ACME_MASTODON_WRITE", WRITE_TOKEN)
            assert dispatch(engine, slack, config, datetime.now(UTC)) == 1
        message = slack.messages[-1]
        assert _send(url, click(mention_id, message, slack.server.url + "/r")).status_code == 200
        _wait(lambda: len(slack.views) == 1, 20, "views.open")
        opened = slack.views[0][1]

        mastodon.hold = 60.0  # created at once, answered a minute later: never, for `first`
        assert _send(url, submission(opened, "Sorry! DM us please")).status_code == 200
        _wait(lambda: len(mastodon.created) == 1, 20, "Mastodon never got the reply")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    with session(engine) as s:
        (row,) = s.exec(select(SlackReply)).all()
    assert row.state == "posting"  # the crash left it there: it may have been posted

    second = start(["--config", str(config_path), "slack-listen"], env, log)
    try:
        wait_listening(url, log)

        def settled() -> bool:
            with session(engine) as s:
                found = s.get(SlackReply, mention_id)
            return found is not None and found.recorded

        _wait(settled, 60, "the restarted listener never settled the attempt")
        # the agent tries again: nothing more is posted
        mastodon.hold = 0.0
        again = submission(opened, "Sorry! DM us please")
        again["trigger_id"] = "12466734323.999"
        assert _send(url, again).status_code == 200
        _wait(lambda: len(slack.views) >= 2, 20, "the second submission was not answered")
    finally:
        assert stop(second) == 0
    assert len(mastodon.posts) == 1
    stamped = datetime.fromisoformat(mastodon.created[0]["created_at"].replace("Z", "+00:00"))
    with session(engine) as s:
        answered = s.get(Mention, mention_id)
    assert answered is not None and answered.status == "answered"
    assert answered.first_response_at == stamped
    assert [(a.outcome, a.source) for a in reply_actions(engine)] == [
        ("posted", "restart"),
        ("lost", "http"),
    ]
    assert "Already answered" in json.dumps(slack.views[-1][1])
    assert WRITE_TOKEN not in log.read_text()
