"""A stand-in for the Slack Web API on 127.0.0.1: records messages, plays scripted failures."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.support.http_server import LocalServer, Reply, Request

FIXTURES = Path(__file__).parent.parent / "fixtures" / "slack"


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
    token: str = ""  # whose post it was, when several tokens are accepted


class FakeSlack:
    """chat.postMessage, chat.update, conversations.history and .replies (cursor paging, as
    Slack pages: newest first, `limit` per page). `script` queues answers for posts and
    updates: a `Reply(..., reset_after=True)` or `Reply(..., drip=s)` with an empty body is
    the real answer after the message was recorded, hung up on or dripped; any other scripted
    reply replaces the call (nothing recorded). `lookup_script` does the same for lookups."""

    def __init__(self, server: LocalServer, token: str = "xoxb-test-token") -> None:
        self.server = server
        self.token = token
        # more bot tokens taken as valid: processes that post as the same app, each with its
        # own token, so a test can tell who posted what
        self.other_tokens: set[str] = set()
        self.messages: list[Posted] = []
        self.script: deque[Reply] = deque()
        self.lookup_script: deque[Reply] = deque()
        self.lookups = 0
        self.ids_only = False  # lookups refuse a "#name", as Slack's conversations.* do
        self.channels: set[str] = set()  # names that exist besides those posted to
        self.list_error: str | None = None  # conversations.list answers this error instead
        self.lists = 0
        self.unauthorised = 0
        self._lock = threading.Lock()
        self._counter = 0
        self._last_ts = 0.0
        server.route("/api/chat.postMessage", self._post)
        server.route("/api/chat.update", self._update)
        server.route("/api/conversations.history", self._history)
        server.route("/api/conversations.replies", self._replies)
        server.route("/api/conversations.list", self._list)
        # modals: every view opened or updated, as (method, body) in order
        self.views: list[tuple[str, dict[str, Any]]] = []
        server.route("/api/views.open", self._view)
        server.route("/api/views.update", self._view)

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
        tokens = {self.token, *self.other_tokens}
        if request.headers.get("authorization") not in {f"Bearer {t}" for t in tokens}:
            self.unauthorised += 1
            return Reply.json({"ok": False, "error": "invalid_auth"})
        with self._lock:
            return self.script.popleft() if self.script else None

    @staticmethod
    def _accepts(scripted: Reply | None) -> bool:
        """A scripted answer that still lets the call do its work (then loses the answer)."""
        return (
            scripted is not None
            and not scripted.body
            and bool(scripted.reset_after or scripted.drip)
        )

    @staticmethod
    def _as(scripted: Reply | None, real: Reply) -> Reply:
        if scripted is None:
            return real
        return Reply(
            real.status,
            real.body,
            real.headers,
            drip=scripted.drip,
            reset_after=scripted.reset_after,
        )

    def _post(self, request: Request) -> Reply:
        scripted = self._gate(request)
        if scripted is not None and not self._accepts(scripted):
            return scripted
        return self._as(scripted, self._record(request))

    def _record(self, request: Request) -> Reply:
        body = self._body(request)
        metadata = body.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        with self._lock:
            # Slack's ts is the time of posting (lookups filter on it), unique per channel
            self._counter += 1
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            ts = f"{self._last_ts:.6f}"
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
                    token=request.headers.get("authorization", "").removeprefix("Bearer "),
                )
            )
        channel_id = "C" + str(body.get("channel")).lstrip("#")
        return Reply.json({"ok": True, "channel": channel_id, "ts": ts})

    def _update(self, request: Request) -> Reply:
        scripted = self._gate(request)
        if scripted is not None and not self._accepts(scripted):
            return scripted
        body = self._body(request)
        with self._lock:
            for message in self.messages:
                if message.ts == body.get("ts"):
                    message.updates.append(body)
                    answer = {"ok": True, "channel": body.get("channel"), "ts": message.ts}
                    return self._as(scripted, Reply.json(answer))
        return Reply.json({"ok": False, "error": "message_not_found"})

    def _lookup_gate(self, request: Request) -> tuple[Reply | None, dict[str, Any]]:
        tokens = {self.token, *self.other_tokens}
        if request.headers.get("authorization") not in {f"Bearer {t}" for t in tokens}:
            return Reply.json({"ok": False, "error": "invalid_auth"}), {}
        with self._lock:
            self.lookups += 1
            scripted = self.lookup_script.popleft() if self.lookup_script else None
        body = self._body(request)
        if scripted is None and self.ids_only and str(body.get("channel")).startswith("#"):
            scripted = Reply.json({"ok": False, "error": "channel_not_found"})
        return scripted, body

    def _page(self, found: list[Posted], body: dict[str, Any]) -> Reply:
        """One page of `found` (already in Slack's order) from the cursor, `limit` long."""
        limit = min(int(body.get("limit") or 100), 1000)
        start = int(body.get("cursor") or 0)
        with_metadata = str(body.get("include_all_metadata")).lower() in ("1", "true")
        page = [
            {"ts": m.ts, "text": m.text, **({"metadata": m.metadata} if with_metadata else {})}
            for m in found[start : start + limit]
        ]
        more = start + limit < len(found)
        answer: dict[str, Any] = {"ok": True, "messages": page, "has_more": more}
        answer["response_metadata"] = {"next_cursor": str(start + limit) if more else ""}
        return Reply.json(answer)

    def _list(self, request: Request) -> Reply:
        """The channels the bot can see, paged: `C` + name is each one's ID, as in posts."""
        tokens = {self.token, *self.other_tokens}
        if request.headers.get("authorization") not in {f"Bearer {t}" for t in tokens}:
            return Reply.json({"ok": False, "error": "invalid_auth"})
        body = self._body(request)
        with self._lock:
            self.lists += 1
            if self.list_error:
                return Reply.json({"ok": False, "error": self.list_error})
            names = sorted(self.channels | {m.channel.lstrip("#") for m in self.messages})
        limit = min(int(body.get("limit") or 100), 1000)
        start = int(body.get("cursor") or 0)
        page = [{"id": "C" + name, "name": name} for name in names[start : start + limit]]
        more = start + limit < len(names)
        return Reply.json(
            {
                "ok": True,
                "channels": page,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""},
            }
        )

    def _in(self, message: Posted, channel: str) -> bool:
        return message.channel == channel or "C" + message.channel.lstrip("#") == channel

    def _history(self, request: Request) -> Reply:
        """Top-level messages of a channel, newest first, not older than `oldest`."""
        scripted, body = self._lookup_gate(request)
        if scripted is not None:
            return scripted
        channel = str(body.get("channel"))
        oldest = float(body.get("oldest") or 0)
        with self._lock:
            found = [
                m
                for m in reversed(self.messages)
                if self._in(m, channel) and m.thread_ts is None and float(m.ts) >= oldest
            ]
        return self._page(found, body)

    def _replies(self, request: Request) -> Reply:
        """A thread: its parent first, then its replies oldest first."""
        scripted, body = self._lookup_gate(request)
        if scripted is not None:
            return scripted
        channel, ts = str(body.get("channel")), str(body.get("ts"))
        with self._lock:
            found = [
                m
                for m in self.messages
                if self._in(m, channel) and (m.ts == ts or m.thread_ts == ts)
            ]
        if not found:
            return Reply.json({"ok": False, "error": "thread_not_found"})
        return self._page(found, body)

    def _view(self, request: Request) -> Reply:
        """views.open / views.update: kept, answered with the documented success shape."""
        tokens = {self.token, *self.other_tokens}
        if request.headers.get("authorization") not in {f"Bearer {t}" for t in tokens}:
            return Reply.json({"ok": False, "error": "invalid_auth"})
        body = self._body(request)
        view = body.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        body["view"] = view
        with self._lock:
            self.views.append((request.path.rsplit("/", 1)[-1], body))
        answer = json.loads((FIXTURES / "views_open_from_docs.json").read_text())
        answer["view"].update(view or {})
        return Reply.json(answer)

    def wait_views(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.views) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.views)

    def keys(self) -> list[str]:
        """The alert keys of every posted top-level message, in order."""
        return [_key(m) for m in self.messages if m.thread_ts is None]

    def reply_keys(self) -> list[str]:
        """The alert keys of every thread reply, in order."""
        return [_key(m) for m in self.messages if m.thread_ts is not None]


def _key(message: Posted) -> str:
    return str((message.metadata or {}).get("event_payload", {}).get("alert_key"))


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    server = LocalServer()
    server.start()
    try:
        yield FakeSlack(server)
    finally:
        server.stop()
