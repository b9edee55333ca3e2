"""Slack buttons and `/monitor` over Socket Mode or a signed HTTP endpoint: ack, then act.

Slack wants every interaction acknowledged within 3 seconds
(https://api.slack.com/interactivity/handling#acknowledgment_response). Both transports
answer at once and hand the payload to a small thread pool, which applies the click
(`monitor.actions`), redraws the alert with chat.update and tells a later clicker, privately
through the payload's `response_url`, who got there first.

- Socket Mode (https://api.slack.com/apis/socket-mode): slack_sdk's built-in client, no
  extra dependency; needs the app-level token (`xapp-...`, scope `connections:write`).
- HTTP: one POST path for interactivity and the slash command, every request checked with
  the signing secret (https://api.slack.com/authentication/verifying-requests-from-slack);
  a bad or stale (> 5 min) signature gets 401 and changes nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.base import Sink
from alerts.slack import ACTION_CLAIM, ACTION_DISMISS, ACTION_HANDLED, ACTION_SNOOZE
from monitor.actions import SNOOZE_CHOICES, Click, apply_click, snooze_until
from monitor.config import Config
from monitor.db import session as open_session
from monitor.messages import mention_message
from monitor.models import Alert, Mention, utcnow
from monitor.sla import Clocks
from monitor.slack_commands import answer

log = logging.getLogger(__name__)

ACTIONS = {
    ACTION_CLAIM: "claim",
    ACTION_HANDLED: "handled",
    ACTION_SNOOZE: "snooze",
    ACTION_DISMISS: "dismiss",
}
MAX_BODY = 1_000_000  # interaction payloads carry the whole message; a few kB in practice
HTTP_PATH = "/slack/events"


class SlackActions:
    """Transport-neutral: turns interaction and slash-command payloads into effects."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        sink: Sink | None,
        *,
        clock: Callable[[], datetime] = utcnow,
        workers: int = 4,
    ) -> None:
        self.config = config
        self.engine = engine
        self.sink = sink  # the Slack sink for chat.update; None: the database still changes
        self.clock = clock
        self.clocks = Clocks(config)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-action")
        self._idle = threading.Condition()
        self._busy = 0

    # -- queueing (the ack has already gone out) ------------------------------------------

    def submit(self, kind: str, payload: dict[str, Any], source: str) -> None:
        with self._idle:
            self._busy += 1
        self._pool.submit(self._run, kind, payload, source)

    def _run(self, kind: str, payload: dict[str, Any], source: str) -> None:
        try:
            if kind == "interactive":
                self.interaction(payload, source)
            elif kind == "slash_commands":
                self.command(payload)
        except Exception:
            log.exception("Slack %s payload: internal error", kind)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every submitted payload has been handled (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- interactions ---------------------------------------------------------------------

    def interaction(self, payload: dict[str, Any], source: str) -> None:
        """A block_actions payload: apply each of our actions, redraw, tell a loser why."""
        if payload.get("type") != "block_actions":
            return  # shortcuts, view submissions: nothing of ours
        user = payload.get("user") or {}
        container = payload.get("container") or {}
        channel_id = container.get("channel_id") or (payload.get("channel") or {}).get("id")
        message_ts = container.get("message_ts") or (payload.get("message") or {}).get("ts")
        for element in payload.get("actions") or []:
            kind = ACTIONS.get(str(element.get("action_id")))
            if kind is None:
                continue  # the Open link button also sends a payload
            raw = element.get("value") or (element.get("selected_option") or {}).get("value")
            mention_id, choice = _parse_value(raw)
            click = Click(
                action=kind,
                mention_id=mention_id,
                user_id=str(user.get("id") or "unknown"),
                user_name=user.get("username") or user.get("name"),
                value=choice,
                source=source,
                channel_id=channel_id,
                message_ts=message_ts,
            )
            now = self.clock()
            until = self._snooze_until(click, now) if kind == "snooze" else None
            outcome = apply_click(self.engine, click, now, until=until)
            log.info(
                "slack: %s on mention %s by %s: %s", kind, mention_id, click.who, outcome.outcome
            )
            if mention_id is not None and channel_id and message_ts:
                self._redraw(mention_id, channel_id, message_ts)
            if not outcome.applied:
                self._tell(payload.get("response_url"), outcome.detail)

    def _snooze_until(self, click: Click, now: datetime) -> datetime | None:
        if click.value not in SNOOZE_CHOICES or click.mention_id is None:
            return None
        with open_session(self.engine) as session:
            mention = session.get(Mention, click.mention_id)
        feed = mention.feed if mention else ""
        return snooze_until(click.value, now, self.clocks.calendar(feed))

    def _redraw(self, mention_id: int, channel_id: str, message_ts: str) -> None:
        """Re-render the alert from the database: both racing clicks draw the same winner."""
        if self.sink is None:
            return
        now = self.clock()
        with open_session(self.engine) as session:
            mention = session.get(Mention, mention_id)
            roots = session.exec(
                select(Alert)
                .where(Alert.mention_id == mention_id, col(Alert.thread_ts).is_(None))
                .order_by(col(Alert.id))
            ).all()
        if mention is None or not roots:
            return
        # the row whose message was clicked; else the mention's first alert
        alert = next((a for a in roots if a.slack_ts == message_ts), roots[0])
        result = self.sink.update(channel_id, message_ts, mention_message(alert, mention, now))
        if not result.ok:
            log.warning(
                "slack: could not redraw the alert of mention %s: %s", mention_id, result.error
            )

    def _tell(self, response_url: str | None, text: str, *, in_channel: bool = False) -> None:
        """A reply through the payload's response_url (no scope needed, works in any channel)."""
        if not response_url:
            return
        kind = "in_channel" if in_channel else "ephemeral"
        try:
            response = WebhookClient(response_url, timeout=int(self.config.slack.timeout)).send(
                text=text, response_type=kind, replace_original=False
            )
        except (SlackClientError, OSError) as exc:
            log.warning("slack: response_url failed: %s", exc.__class__.__name__)
            return
        if response.status_code != 200:
            log.warning("slack: response_url answered %s", response.status_code)

    # -- slash command --------------------------------------------------------------------

    def command(self, form: dict[str, Any]) -> None:
        """`/monitor status`, `/monitor report 7d`: answered in the channel."""
        text = answer(self.config, self.engine, self.clock(), str(form.get("text") or ""))
        self._tell(form.get("response_url"), text, in_channel=True)


def _parse_value(raw: Any) -> tuple[int | None, str | None]:
    """`"42"` or `"42:4h"` -> (42, "4h"); anything else -> (None, ...)."""
    text = str(raw or "")
    head, _, choice = text.partition(":")
    mention_id = int(head) if head.isdigit() and len(head) < 19 else None
    return mention_id, choice or None


# -- Socket Mode ----------------------------------------------------------------------------


class SocketModeListener:
    """Slack's socket-mode client: each envelope is acked first, then handled in the pool."""

    def __init__(self, actions: SlackActions, app_token: str, *, api_url: str) -> None:
        self.actions = actions
        web = WebClient(base_url=api_url.rstrip("/") + "/")
        self.client = SocketModeClient(app_token=app_token, web_client=web, logger=log)
        self.client.socket_mode_request_listeners.append(self._on_request)

    def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        if request.type in ("interactive", "slash_commands"):
            self.actions.submit(request.type, request.payload, "socket")

    def start(self) -> None:
        """Open the connection (apps.connections.open, then the WebSocket)."""
        self.client.connect()
        log.info(
            "Slack Socket Mode connected: buttons and %s are live",
            self.actions.config.slack.command,
        )

    def stop(self) -> None:
        self.client.close()


# -- HTTP endpoint --------------------------------------------------------------------------


class HttpListener:
    """POST /slack/events: interactivity and the slash command, signature checked first."""

    def __init__(
        self,
        actions: SlackActions,
        signing_secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        verifier: SignatureVerifier | None = None,
    ) -> None:
        self.actions = actions
        self.verifier = verifier or SignatureVerifier(signing_secret)
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{HTTP_PATH}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, kind, payload = owner.receive(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self._body(),
                )
                if kind is not None and payload is not None:
                    owner.actions.submit(kind, payload, "http")  # queued: the answer is not held
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _body(self) -> bytes | None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return None
                return self.rfile.read(length) if length else b""

            def log_message(self, format: str, *args: Any) -> None:
                pass  # request lines would log Slack's response_url query strings

        return Handler

    def receive(
        self, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, str | None, dict[str, Any] | None]:
        """(HTTP status, payload kind, payload); nothing is acted on unless signed and fresh."""
        if path.split("?", 1)[0] != HTTP_PATH:
            return 404, None, None
        if body is None:
            return 413, None, None
        if not self.verifier.is_valid_request(body, headers):
            log.warning("slack: rejected a request with a bad or stale signature")
            return 401, None, None
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if "ssl_check" in form:
            return 200, None, None
        if "payload" in form:
            try:
                payload = json.loads(form["payload"])
            except json.JSONDecodeError:
                return 400, None, None
            return (200, "interactive", payload) if isinstance(payload, dict) else (400, None, None)
        if "command" in form:
            return 200, "slash_commands", form
        return 400, None, None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="slack-http", daemon=True
        )
        self._thread.start()
        log.info("Slack HTTP endpoint listening on %s", self.url)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- wiring for `monitor run` and `monitor slack-listen` ------------------------------------


class SlackApp:
    """Whatever the config enables: Socket Mode (app token set), HTTP (`http_port` set)."""

    def __init__(self, config: Config, engine: Engine, sink: Sink | None) -> None:
        self.config = config
        self.actions = SlackActions(config, engine, sink if sink and sink.name == "slack" else None)
        self.listeners: list[SocketModeListener | HttpListener] = []

    @staticmethod
    def wanted(config: Config) -> bool:
        return bool(config.slack.app_token() or config.slack.http_port)

    def start(self) -> list[str]:
        """Start what is configured; returns the problems (a listener that failed stays off)."""
        slack = self.config.slack
        problems = []
        if self.actions.sink is None:
            problems.append(
                f"{slack.token_env} is not set: clicks are recorded but messages are not redrawn"
            )
        token = slack.app_token()
        if token:
            listener = SocketModeListener(self.actions, token, api_url=slack.api_url)
            try:
                listener.start()
                self.listeners.append(listener)
            except (SlackApiError, SlackClientError, OSError) as exc:
                listener.stop()
                problems.append(f"Socket Mode did not connect ({slack.app_token_env}): {exc}")
        if slack.http_port:
            secret = slack.signing_secret()
            if not secret:
                problems.append(
                    f"{slack.signing_secret_env} is not set: the HTTP endpoint stays off"
                )
            else:
                try:
                    http = HttpListener(
                        self.actions, secret, host=slack.http_host, port=slack.http_port
                    )
                except OSError as exc:  # the port is taken: polling goes on without it
                    problems.append(f"HTTP endpoint on port {slack.http_port} failed: {exc}")
                else:
                    http.start()
                    self.listeners.append(http)
        return problems

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
        self.actions.wait_idle(10.0)
        self.actions.close()
