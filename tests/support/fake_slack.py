"""A stand-in for the Slack Web API on 127.0.0.1: records messages, plays scripted failures."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.support.http_server import LocalServer, Reply, Request


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    raw: dict[str, Any]
    at: float
    thread_ts: str | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)


class FakeSlack:
    """chat.postMessage, chat.update, conversations.history; `script` queues failures."""

    def __init__(self, server: LocalServer, token: str = "xoxb-test-token") -> None:
        self.server = server
        self.token = token
        self.messages: list[Posted] = []
        self.script: deque[Reply] = deque()
        self.unauthorised = 0
        self._lock = threading.Lock()
        self._counter = 0
        server.route("/api/chat.postMessage", self._post)
        server.route("/api/chat.update", self._update)
        server.route("/api/conversations.history", self._history)

    @property
    def api_url(self) -> str:
        return self.server.url + "/api/"

    def _body(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            body: dict[str, Any] = json.loads(request.body or b"{}")
            return body
        form = parse_qs(request.body.decode())
        body = {k: v[0] for k, v in form.items()}
        body.update({k: v[0] for k, v in request.query.items()})
        return body

    def _gate(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            self.unauthorised += 1
            return Reply.json({"ok": False, "error": "invalid_auth"})
        with self._lock:
            return self.script.popleft() if self.script else None

    def _post(self, request: Request) -> Reply:
        scripted = self._gate(request)
        if scripted is not None:
            return scripted
        body = self._body(request)
        metadata = body.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        with self._lock:
            self._counter += 1
            ts = f"{1700000000 + self._counter}.{self._counter:06d}"
            self.messages.append(
                Posted(
                    channel=str(body.get("channel")),
                    ts=ts,
                    text=str(body.get("text") or ""),
                    blocks=blocks,
                    metadata=metadata,
                    raw=body,
                    at=time.monotonic(),
                    thread_ts=body.get("thread_ts"),
                )
            )
        channel_id = "C" + str(body.get("channel")).lstrip("#")
        return Reply.json({"ok": True, "channel": channel_id, "ts": ts})

    def _update(self, request: Request) -> Reply:
        scripted = self._gate(request)
        if scripted is not None:
            return scripted
        body = self._body(request)
        with self._lock:
            for message in self.messages:
                if message.ts == body.get("ts"):
                    message.updates.append(body)
                    answer = {"ok": True, "channel": body.get("channel"), "ts": message.ts}
                    return Reply.json(answer)
        return Reply.json({"ok": False, "error": "message_not_found"})

    def _history(self, request: Request) -> Reply:
        body = self._body(request)
        channel = str(body.get("channel"))
        with self._lock:
            found = [
                {"ts": m.ts, "text": m.text, "metadata": m.metadata}
                for m in reversed(self.messages)
                if m.channel == channel or "C" + m.channel.lstrip("#") == channel
            ]
        return Reply.json({"ok": True, "messages": found, "has_more": False})

    def keys(self) -> list[str]:
        """The alert keys of every posted top-level message, in order."""
        return [
            str((m.metadata or {}).get("event_payload", {}).get("alert_key"))
            for m in self.messages
            if m.thread_ts is None
        ]


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    server = LocalServer()
    server.start()
    try:
        yield FakeSlack(server)
    finally:
        server.stop()
