"""Slack buttons and `/monitor` through Bolt for Python, over Socket Mode or signed HTTP.

Slack wants every interaction acknowledged within 3 seconds
(https://api.slack.com/interactivity/handling#acknowledgment_response). Each Bolt listener
acks at once and does its work in a lazy listener on a small thread pool
(https://docs.slack.dev/tools/bolt-python/concepts/lazy-listeners): apply the click
(`monitor.slack.actions`), redraw the alert with chat.update, and tell a later clicker, privately
through the payload's `response_url`, who got there first. A clicker outside `[slack]
allowed_users` / `allowed_groups` is refused and told so (`monitor.slack.access`).

- Socket Mode (https://api.slack.com/apis/socket-mode): Bolt's adapter over slack_sdk's
  built-in client, no extra dependency; needs the app-level token (`xapp-...`, scope
  `connections:write`).
- HTTP (`monitor.slack.http`): a front that caps the body before reading it, then Bolt,
  which checks the signature and its 5-minute window
  (https://api.slack.com/authentication/verifying-requests-from-slack); a signature seen
  before is refused too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from alerts.base import Sink
from alerts.slack import (
    ACTION_CLAIM,
    ACTION_DISMISS,
    ACTION_HANDLED,
    ACTION_OPEN,
    ACTION_SNOOZE,
)
from monitor.alerting.messages import mention_message
from monitor.alerting.roots import root_alert
from monitor.alerting.sla import Clocks
from monitor.config import Config
from monitor.replying.writers import reply_feeds
from monitor.slack.access import AccessList
from monitor.slack.actions import SNOOZE_CHOICES, Click, apply_click, refuse_click, snooze_until
from monitor.slack.commands import answer
from monitor.slack.http import HttpListener, ReplayGuard, Route
from monitor.slack.replies import ReplyListeners
from monitor.states import ClickAction
from monitor.store.db import session as open_session
from monitor.store.models import Alert, Mention, utcnow

if TYPE_CHECKING:
    from monitor.ingest.pipeline import Pipeline

log = logging.getLogger(__name__)

ACTIONS = {
    ACTION_CLAIM: ClickAction.CLAIM,
    ACTION_HANDLED: ClickAction.HANDLED,
    ACTION_SNOOZE: ClickAction.SNOOZE,
    ACTION_DISMISS: ClickAction.DISMISS,
}


class _BoltStartupNoise(logging.Filter):
    """Drop Bolt's start-up note that SLACK_BOT_TOKEN is unused: `authorize` supplies it."""

    _NOTES = frozenset({warning_token_skipped(), warning_client_prioritized_and_token_skipped()})

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self._NOTES


# Bolt's base logger. At DEBUG, Bolt logs request bodies, whose response_url lets anyone
# answer in the channel for 30 minutes: Bolt says only warnings and errors, whatever -v says.
bolt_log = logging.getLogger("monitor.slack.app.bolt")
bolt_log.setLevel(logging.WARNING)
bolt_log.addFilter(_BoltStartupNoise())


class _Pool(ThreadPoolExecutor):
    """Bolt's listener executor, counting unfinished work so shutdown and tests can wait."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="slack-action")
        self._idle = threading.Condition()
        self._busy = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._idle:
            self._busy += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any] | None) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)


class SlackActions:
    """Transport-neutral: the Bolt app whose listeners turn payloads into effects."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        sink: Sink | None,
        *,
        clock: Callable[[], datetime] = utcnow,
        workers: int = 4,
        access: AccessList | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.sink = sink  # the Slack sink for chat.update; None: the database still changes
        self.clock = clock
        self.clocks = Clocks(config)
        self.access = access if access is not None else _access(config)
        self._pool = _Pool(workers)
        # the feeds whose alerts carry a Reply button, and who may press it
        self.replyable = reply_feeds(config)
        self.replies = ReplyListeners(self, _reply_access(config))

    # -- the Bolt app ---------------------------------------------------------------------

    def bolt_app(self, signing_secret: str | None = None) -> App:
        """A Bolt app for Socket Mode (no secret) or for HTTP (verified with the secret)."""
        if signing_secret == "":
            raise ValueError("an empty signing secret would accept any signature")
        slack = self.config.slack
        app = App(
            # Bolt sets up the logger named after the app from `logger` (level and filters):
            # named "monitor", it turned every monitor.* INFO line off for the whole process
            name=bolt_log.name,
            logger=bolt_log,
            signing_secret=signing_secret or "",
            request_verification_enabled=signing_secret is not None,
            before_authorize=ReplayGuard() if signing_secret else None,
            # no auth.test round trip: the bot token (if any) is all we need
            authorize=lambda enterprise_id, team_id, user_id: AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
                bot_token=slack.token(),
            ),
            client=WebClient(base_url=_api_root(slack.api_url), timeout=int(slack.timeout)),
            # the ack function runs before the answer goes out; lazy work runs in the pool
            process_before_response=True,
            listener_executor=self._pool,
        )
        app.use(_ours_only)
        for action_id in ACTIONS:
            app.action(action_id)(ack=_ack, lazy=[self._on_click])
        app.action(ACTION_OPEN)(_ack)  # a link button: Slack still sends a payload
        self.replies.register(app)
        app.command(slack.command)(ack=_ack, lazy=[self._on_command])
        return app

    def _on_click(self, body: dict[str, Any], request: BoltRequest) -> None:
        self._guarded("interaction", self.interaction, body, _source(request))

    def _on_command(self, body: dict[str, Any]) -> None:
        self._guarded("slash command", self.command, body)

    @staticmethod
    def _guarded(kind: str, work: Callable[..., None], *args: Any) -> None:
        try:
            work(*args)
        except Exception:
            log.exception("Slack %s payload: internal error", kind)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every acknowledged payload has been handled (tests, shutdown)."""
        return self._pool.wait_idle(timeout)

    def close(self) -> None:
        self.replies.stop()
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
            refusal = self.access.refusal(click.user_id)
            if refusal is not None:
                outcome = refuse_click(self.engine, click, now, refusal)
            else:
                until = self._snooze_until(click, now) if kind == ClickAction.SNOOZE else None
                outcome = apply_click(self.engine, click, now, until=until)
            log.info(
                "slack: %s on mention %s by %s: %s", kind, mention_id, click.who, outcome.outcome
            )
            if refusal is None and mention_id is not None and channel_id and message_ts:
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
            # the row whose message was clicked; else the mention's root message
            alert = session.exec(
                select(Alert).where(
                    Alert.mention_id == mention_id,
                    col(Alert.thread_ts).is_(None),
                    Alert.slack_ts == message_ts,
                )
            ).first() or root_alert(session, mention_id)
        if mention is None or alert is None:
            return
        message = mention_message(alert, mention, now, can_reply=mention.feed in self.replyable)
        result = self.sink.update(channel_id, message_ts, message)
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


def _ack(ack: Callable[[], Any]) -> None:
    ack()  # an empty 200 (HTTP) or the envelope id alone (Socket Mode), at once


def _ours_only(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
    """Signed but of no shape Slack sends us (neither a payload nor a command): 400."""
    if "type" in body or "command" in body:
        next()
        return None
    return BoltResponse(status=400, body="")


def _source(request: BoltRequest) -> str:
    return "socket" if request.mode == "socket_mode" else "http"


def _api_root(api_url: str) -> str:
    return api_url.rstrip("/") + "/"


def _access(config: Config) -> AccessList:
    slack = config.slack
    return AccessList(slack.allowed_users, slack.allowed_groups, _groups_client(config))


def _reply_access(config: Config) -> AccessList:
    users, groups = config.slack.reply_access()
    return AccessList(users, groups, _groups_client(config) if groups else None)


def _groups_client(config: Config) -> WebClient | None:
    """A client to read user groups' members with, when any are listed and a token is set."""
    slack = config.slack
    token = slack.token()
    if not token or not (slack.allowed_groups or slack.reply_allowed):
        return None
    return WebClient(token=token, base_url=_api_root(slack.api_url), timeout=int(slack.timeout))


# -- Socket Mode ----------------------------------------------------------------------------


class SocketModeListener:
    """Bolt's Socket Mode adapter on slack_sdk's built-in client: ack first, then the pool."""

    def __init__(self, actions: SlackActions, app_token: str, *, api_url: str) -> None:
        self.actions = actions
        self.handler = SocketModeHandler(
            actions.bolt_app(),
            app_token,
            logger=log,
            web_client=WebClient(base_url=_api_root(api_url)),
        )

    def start(self) -> None:
        """Open the connection (apps.connections.open, then the WebSocket)."""
        self.handler.connect()
        log.info(
            "Slack Socket Mode connected: buttons and %s are live",
            self.actions.config.slack.command,
        )

    def stop(self) -> None:
        self.handler.close()


# -- wiring for `monitor run` and `monitor slack-listen` ------------------------------------


class SlackApp:
    """Whatever the config enables: Socket Mode (app token set), HTTP (`http_port` set)."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        sink: Sink | None,
        *,
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        """`routes`: more paths served on `http_port` (the Meta webhook), each checking its
        own signature; served even when Slack's signing secret is not set."""
        self.config = config
        self.actions = SlackActions(config, engine, sink if sink and sink.name == "slack" else None)
        self.routes = dict(routes or {})
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
        if slack.allowed_groups and not slack.token():
            problems.append(
                f"{slack.token_env} is not set: members of [slack] allowed_groups cannot be"
                " checked, so only allowed_users may press the buttons"
            )
        if slack.reply_allowed and not self.actions.replyable:
            problems.append(
                "[slack] reply_allowed is set, but no feed has its write credentials"
                " (`reply = {...}` and its env vars): no alert shows a Reply button"
            )
        self.actions.replies.recover_soon()
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
                    f"{slack.signing_secret_env} is not set: the HTTP endpoint "
                    + (
                        "serves only " + ", ".join(sorted(self.routes))
                        if self.routes
                        else "stays off"
                    )
                )
            if secret or self.routes:
                try:
                    http = HttpListener(
                        self.actions.bolt_app(secret) if secret else None,
                        host=slack.http_host,
                        port=slack.http_port,
                        routes=self.routes,
                    )
                except OSError as exc:  # the port is taken: polling goes on without it
                    problems.append(f"HTTP endpoint on port {slack.http_port} failed: {exc}")
                else:
                    http.start()
                    self.listeners.append(http)
        return problems

    def attach(self, pipeline: Pipeline) -> None:
        """Hand the process's pipeline to what stores: the webhook, the Reply button."""
        self.actions.replies.service.attach(pipeline)
        for route in self.routes.values():
            attach = getattr(route, "attach", None)
            if attach is not None:
                attach(pipeline)

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
        self.actions.wait_idle(10.0)
        self.actions.close()
