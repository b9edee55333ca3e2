"""A Reply test's world: a fake Slack, a Mastodon stand-in on 127.0.0.1, an alert to answer."""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor.alerting.outbox import Dispatcher
from monitor.config import Config, parse_config
from monitor.replying.writers import reply_feeds
from monitor.store.db import session
from monitor.store.models import Action, Alert, Mention, SlackReply
from tests.slack.support import App, fixture, interaction_body, signed, sink, start_app
from tests.support.fake_slack import FakeSlack, Posted
from tests.support.http_server import LocalServer, Reply, Request, local_server

MASTODON = Path(__file__).parents[1] / "fixtures" / "mastodon"
# the recorded answer to POST /api/v1/statuses with in_reply_to_id (fixtures/mastodon/SOURCES.md):
# the admin answers status 117020583245459824 at 2026-08-01T13:53:15.910Z
CREATED = json.loads((MASTODON / "status_reply_with_in_reply_to_local_instance.json").read_bytes())
MENTION_ID = str(CREATED["in_reply_to_id"])
MENTION_AT = datetime(2026, 8, 1, 13, 50, tzinfo=UTC)
REPLY_AT = datetime(2026, 8, 1, 13, 53, 15, 910000, tzinfo=UTC)
# the agent submits a few seconds before Mastodon stamps the reply
NOW = datetime(2026, 8, 1, 13, 53, 10, tzinfo=UTC)
WRITE_TOKEN = "mastodon-write-token-5e3a"
ALLOWED = "U0CA5"  # Amy McGee in the documented payloads
# each payload its own trigger: Slack never sends the same signed body twice (a replay)
_TRIGGERS = itertools.count(1)


@dataclass
class Mastodon:
    """POST /api/v1/statuses creates the recorded status once per Idempotency-Key, as
    Mastodon does; the context of the mention shows what was created. `answers` scripts
    the next POSTs (a 422, a 500, a reset after the status was created)."""

    server: LocalServer
    created: list[dict[str, Any]] = field(default_factory=list)
    answers: list[Reply] = field(default_factory=list)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # a process under test runs on the real clock: the status is stamped now, as Mastodon does
    stamp_now: bool = False
    # seconds the answer to a POST is held after the status was created (a crash lands here)
    hold: float = 0.0

    def __post_init__(self) -> None:
        self.server.route("/api/v1/statuses", self._post)
        self.server.route(f"/api/v1/statuses/{MENTION_ID}/context", self._context)
        self.server.route("/api/v1/accounts/verify_credentials", self._me)

    @property
    def posts(self) -> list[Request]:
        return [r for r in self.server.requests if r.method == "POST"]

    def _post(self, request: Request) -> Reply:
        with self.lock:
            scripted = self.answers.pop(0) if self.answers else None
            if scripted is not None and not scripted.reset_after:
                return scripted  # refused: nothing created
            key = request.headers.get("idempotency-key", "")
            status = self.keys.get(key)
            if status is None:
                status = copy.deepcopy(CREATED)
                status["id"] = str(int(CREATED["id"]) + len(self.created))
                form = dict(p.split("=", 1) for p in request.body.decode().split("&"))
                status["content"] = f"<p>{_unquote(form['status'])}</p>"
                if self.stamp_now:
                    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
                    status["created_at"] = stamp.replace("+00:00", "Z")
                self.created.append(status)
                self.keys[key] = status
        answer = Reply.json(status)
        answer.delay = self.hold
        answer.reset_after = bool(scripted and scripted.reset_after)  # created, answer lost
        return answer

    def _context(self, request: Request) -> Reply:
        with self.lock:
            return Reply.json({"ancestors": [], "descendants": list(self.created)})

    def _me(self, request: Request) -> Reply:
        return Reply.json(CREATED["account"])


def _unquote(value: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(value)


@contextmanager
def mastodon_server() -> Iterator[Mastodon]:
    with local_server() as server:
        yield Mastodon(server)


def reply_config(slack: FakeSlack, mastodon: Mastodon, **extra: Any) -> Config:
    data: dict[str, Any] = {
        "brand": {"name": "Acme"},
        "slack": {"api_url": slack.api_url, "reply_allowed": [ALLOWED]},
        "sla": {"target": "1h", "clock": "calendar"},
        "feeds": [
            {
                "name": "acme-mastodon",
                "type": "mastodon",
                "tag": "acme",
                "base_url": mastodon.server.url,
                "channel": "#support",
                "reply": {"token_env": "ACME_MASTODON_WRITE"},
            }
        ],
    }
    data.update(extra)
    return parse_config(data)


def writing_config(
    slack: FakeSlack, mastodon: Mastodon, monkeypatch: pytest.MonkeyPatch, **extra: Any
) -> Config:
    """`reply_config` with the Mastodon write token and the bot's token (views.open is the
    bot's call) in the environment."""
    monkeypatch.setenv("ACME_MASTODON_WRITE", WRITE_TOKEN)
    config = reply_config(slack, mastodon, **extra)
    monkeypatch.setenv(config.slack.token_env, slack.token)
    return config


class Clock:
    """The app's clock, at NOW until a test moves it (`clock.now = ...`)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def http_app(
    engine: Engine, slack: FakeSlack, config: Config, clock: Callable[[], datetime]
) -> Iterator[App]:
    """The signed HTTP endpoint on 127.0.0.1 for `config`, stopped after."""
    app = start_app(engine, slack, config, clock=clock)
    try:
        yield app
    finally:
        app.stop()


def send(app: App, payload: dict[str, Any]) -> dict[str, Any] | None:
    """One signed interaction, answered 200; what the endpoint answered, once settled."""
    body = interaction_body(payload)
    answer = app.post(body, signed(body))
    assert answer.status_code == 200, answer.text
    app.settle()
    return answer.json() if answer.content else None


def open_modal(app: App, mention_id: int, message: Posted, user: str = ALLOWED) -> dict[str, Any]:
    """Click Reply under the alert: the one views.open it makes."""
    before = len(app.slack.views)
    send(app, click(mention_id, message, app.response_url, user))
    views = app.slack.views[before:]
    assert [method for method, _ in views] == ["views.open"]
    return views[0][1]


def alert_mention(engine: Engine, slack: FakeSlack, config: Config) -> tuple[int, Posted]:
    """The customer's status, stored and alerted through the real dispatcher."""
    mention = Mention(
        platform="mastodon",
        feed="acme-mastodon",
        external_id=MENTION_ID,
        url=f"http://localhost:3000/@mastodonpy_test_2/{MENTION_ID}",
        author="mastodonpy_test_2",
        author_id="117020566092212359",
        text="@acme my order never arrived <@U0ADMIN> <!channel>",
        created_at=MENTION_AT,
        fetched_at=MENTION_AT,
        sentiment="negative",
        polarity=-0.6,
    )
    return alert_stored(engine, slack, config, mention)


def alert_stored(
    engine: Engine, slack: FakeSlack, config: Config, mention: Mention, now: datetime = NOW
) -> tuple[int, Posted]:
    """`mention` stored with a negative alert waiting, then alerted by the real dispatcher."""
    with session(engine) as s:
        s.add(mention)
        s.flush()
        s.add(
            Alert(
                key=f"negative:{mention.id}",
                mention_id=mention.id,
                feed=mention.feed,
                kind="negative",
                channel="#support",
                next_attempt_at=mention.created_at,
                created_at=mention.created_at,
            )
        )
        s.commit()
        assert mention.id is not None
        mention_id = mention.id
    dispatch(engine, slack, config, now)
    return mention_id, slack.messages[-1]


def dispatch(engine: Engine, slack: FakeSlack, config: Config, now: datetime = NOW) -> int:
    dispatcher = Dispatcher(
        engine, sink(slack), pace=0, clock=lambda: now, replyable=reply_feeds(config)
    )
    return dispatcher.run_once(now).sent


def click(
    mention_id: int, message: Posted, response_url: str, user: str = ALLOWED
) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("block_actions_button_from_docs.json"))
    channel_id = "C" + message.channel.lstrip("#")
    payload["user"]["id"] = user
    payload["container"].update(message_ts=message.ts, channel_id=channel_id)
    payload["channel"]["id"] = channel_id
    payload["message"]["ts"] = message.ts
    payload["response_url"] = response_url
    payload["actions"][0].update(action_id="monitor_reply", value=str(mention_id))
    payload["trigger_id"] = f"12466734323.{next(_TRIGGERS)}"
    return payload


def submission(opened: dict[str, Any], text: str, user: str = ALLOWED) -> dict[str, Any]:
    """The documented view_submission, for the view we opened, with `text` typed."""
    payload = copy.deepcopy(fixture("view_submission_from_docs.json"))
    view = opened["view"]
    block = next(b["block_id"] for b in view["blocks"] if b["type"] == "input")
    payload["user"]["id"] = user
    payload["trigger_id"] = f"12466734323.{next(_TRIGGERS)}"
    payload["view"].update(
        private_metadata=view["private_metadata"],
        callback_id=view["callback_id"],
        blocks=view["blocks"],
        state={"values": {block: {"text": {"type": "plain_text_input", "value": text}}}},
    )
    return payload


def replies(engine: Engine) -> list[SlackReply]:
    with session(engine) as s:
        return list(s.exec(select(SlackReply)).all())


def reply_actions(engine: Engine) -> list[Action]:
    with session(engine) as s:
        rows = s.exec(select(Action).where(Action.action == "reply").order_by(col(Action.id)))
        return list(rows.all())
