"""Shared pieces for the Slack app tests: a posted alert on a fake Slack, signed payloads."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.slack import SlackSink
from monitor.alerting.outbox import Dispatcher
from monitor.config import Config, parse_config
from monitor.slack.app import SlackActions
from monitor.slack.http import HttpListener
from monitor.store.db import session
from monitor.store.models import Action, Alert, Mention
from tests.support.fake_slack import FakeSlack, Posted
from tests.support.http_server import Reply, Request

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slack"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret of Slack's signing docs


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def make_config(**slack: object) -> Config:
    return parse_config(
        {
            "brand": {"name": "Acme"},
            "slack": slack,
            "sla": {"target": "1h", "clock": "calendar"},
            "business_hours": {"timezone": "Europe/Amsterdam"},
            "feeds": [
                {
                    "name": "acme-reddit",
                    "type": "rss",
                    "url": "https://example.com/feed",
                    "channel": "#support",
                }
            ],
        }
    )


def add_mention(engine: Engine, created: datetime = NOW - timedelta(minutes=20)) -> int:
    """An open negative mention with a first alert waiting in the outbox."""
    with session(engine) as s:
        mention = Mention(
            platform="reddit",
            feed="acme-reddit",
            external_id=f"t3_{created.timestamp():.0f}",
            url="https://www.reddit.com/r/acme/comments/x/",
            author="angry_customer",
            text="My order never arrived",
            created_at=created,
            fetched_at=created,
            sentiment="negative",
            polarity=-0.6,
            sla_at_risk_at=created + timedelta(minutes=45),
            sla_due_at=created + timedelta(hours=1),
            sla_state="on_track",
        )
        s.add(mention)
        s.flush()
        s.add(
            Alert(
                key=f"negative:{mention.id}",
                mention_id=mention.id,
                feed="acme-reddit",
                kind="negative",
                channel="#support",
                next_attempt_at=created,
                created_at=created,
            )
        )
        s.commit()
        assert mention.id is not None
        return mention.id


@dataclass
class Responses:
    """What the app sent to payloads' response_url (a route on the fake Slack server)."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Reply:
        with self._lock:
            self.bodies.append(json.loads(request.body))
        return Reply(200, b"ok")

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.bodies)


def post_alert(
    engine: Engine, slack: FakeSlack, created: datetime = NOW - timedelta(minutes=20)
) -> tuple[int, Posted]:
    """A mention whose first alert went out through the real dispatcher and Slack sink."""
    mention_id = add_mention(engine, created)
    dispatcher = Dispatcher(engine, sink(slack), pace=0, clock=lambda: NOW)
    assert dispatcher.run_once(NOW).sent == 1
    return mention_id, slack.messages[-1]


def sink(slack: FakeSlack) -> SlackSink:
    return SlackSink(slack.token, base_url=slack.api_url, timeout=5)


def click_payload(
    name: str,
    mention_id: int,
    message: Posted,
    response_url: str,
    *,
    user: tuple[str, str] = ("U0CA5", "Amy McGee"),
    action_id: str | None = None,
    value: str | None = None,
) -> dict[str, Any]:
    """The documented block_actions payload pointed at our message and mention."""
    payload = copy.deepcopy(fixture(name))
    channel_id = "C" + message.channel.lstrip("#")
    payload["user"].update(id=user[0], username=user[1], name=user[1])
    payload["container"].update(message_ts=message.ts, channel_id=channel_id)
    payload["channel"]["id"] = channel_id
    payload["message"]["ts"] = message.ts
    payload["response_url"] = response_url
    action = payload["actions"][0]
    if action_id:
        action["action_id"] = action_id
    if "selected_option" in action:
        choice = action["selected_option"]["value"].split(":", 1)[1]
        action["selected_option"]["value"] = value or f"{mention_id}:{choice}"
    else:
        action["value"] = value or str(mention_id)
    return payload


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """Headers as Slack sends them: v0 HMAC-SHA256 of "v0:<timestamp>:<body>"."""
    timestamp = str(int(time.time() if at is None else at))
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def interaction_body(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def mention_row(engine: Engine, mention_id: int) -> Mention:
    with session(engine) as s:
        mention = s.get(Mention, mention_id)
        assert mention is not None
        return mention


def actions(engine: Engine) -> list[Action]:
    with session(engine) as s:
        return list(s.exec(select(Action).order_by(col(Action.id))).all())


def last_update_blocks(message: Posted) -> list[dict[str, Any]]:
    blocks = message.updates[-1]["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def block_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        str(element.get("action_id"))
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


@dataclass
class App:
    """The HTTP endpoint on 127.0.0.1 with the effects behind it and a fake Slack."""

    actions: SlackActions
    http: HttpListener
    slack: FakeSlack
    responses: Responses
    engine: Engine

    @property
    def response_url(self) -> str:
        return self.slack.server.url + "/response/T123567/1509734234"

    def post(
        self, body: bytes, headers: Mapping[str, str] | Mapping[bytes, bytes]
    ) -> httpx.Response:
        return httpx.post(self.http.url, content=body, headers=headers, timeout=10)

    def settle(self) -> None:
        assert self.actions.wait_idle(15)

    def stop(self) -> None:
        self.http.stop()
        self.actions.close()


def start_app(
    engine: Engine,
    slack: FakeSlack,
    config: Config | None = None,
    *,
    clock: Callable[[], datetime] = lambda: NOW,
    **http: Any,
) -> App:
    actions_ = SlackActions(config or make_config(), engine, sink(slack), clock=clock)
    listener = HttpListener(actions_.bolt_app(SECRET), port=0, **http)
    listener.start()
    responses = Responses()
    slack.server.route("/response/*", responses)
    return App(actions_, listener, slack, responses, engine)


@dataclass
class Upload:
    """What a client sending a large body managed before the server answered or hung up."""

    answer: bytes = b""  # the status line, or b"" when the connection closed without one
    sent: int = 0
    finished_before_answer: bool = False


def push_body(url: str, head: bytes, total: int, *, chunked: bool = False) -> Upload:
    """Send `head`, then keep sending a body of `total` bytes while reading the answer."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    connection = socket.create_connection((host, int(port)), timeout=30)
    upload = Upload()
    finished = threading.Event()
    block = b"a" * 65536
    piece = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block

    def pump() -> None:
        try:
            connection.sendall(head)
            while upload.sent < total:
                connection.sendall(piece)
                upload.sent += len(piece)
            if chunked:
                connection.sendall(b"0\r\n\r\n")
            connection.shutdown(socket.SHUT_WR)
            finished.set()
        except OSError:
            pass  # the server hung up on us: what a refusal looks like from here

    sender = threading.Thread(target=pump)
    sender.start()
    try:
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError:
        answer = b""
    upload.finished_before_answer = finished.is_set()
    upload.answer = answer.split(b"\r\n", 1)[0]
    sender.join(120)
    connection.close()
    return upload


def request_head(length: str | None, *, chunked: bool = False) -> bytes:
    """A POST's request line and headers, signed over an empty body (never the one sent)."""
    lines = ["POST /slack/events HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in signed(b"").items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
