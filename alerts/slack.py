"""The Slack sink: Block Kit messages through slack_sdk, escaped, unfurls off, metadata set."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InteractiveElement,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.metadata import Metadata

from alerts.base import AlertMessage, LookupFailed, SendResult
from alerts.escape import escape, safe_url

log = logging.getLogger(__name__)

EVENT_TYPE = "brand_monitor_alert"
# Errors that retrying cannot fix; the alert waits for the operator (it is never dropped).
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "restricted_action",
        "invalid_blocks",
        "msg_too_long",
        "channel_id_needed",  # ours: a lookup before a resend needs the channel's ID
    }
)
_EMOJI = {"negative": ":red_circle:", "unscored": ":grey_question:", "neutral": ":white_circle:"}
_EMOJI_POSITIVE = ":large_green_circle:"
# Interactive elements: action_id says what, `value` carries the mention id (monitor/slack/app.py).
ACTION_CLAIM = "monitor_claim"
ACTION_HANDLED = "monitor_handled"
ACTION_SNOOZE = "monitor_snooze"
ACTION_DISMISS = "monitor_dismiss"
ACTION_REPLY = "monitor_reply"
ACTION_OPEN = "open_mention"  # a link button: Slack still sends a payload, we ignore it
SNOOZE_CHOICES = {"1h": "Snooze 1 h", "4h": "Snooze 4 h", "tomorrow": "Snooze until tomorrow"}
_THREAD_EMOJI = {
    "answered_update": ":white_check_mark:",
    "sla_at_risk": ":hourglass_flowing_sand:",
    "sla_breached": ":rotating_light:",
    "review_edited": ":pencil2:",
    "reply_note": ":speech_balloon:",
}
_KIND_BADGE = {
    "feed_health": ":warning: *feed problem*",
    "feed_recovered": ":white_check_mark: *feed recovered*",
    "spike": ":chart_with_upwards_trend: *spike*",
    "digest": ":package: *storm digest*",
}
MAX_TEXT = 2800  # a section's text may hold 3,000 characters
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,20}$")  # a Slack user group ID


def build_blocks(message: AlertMessage) -> list[Block]:
    """The alert as Block Kit; every piece of outside text passes through `escape`."""
    if message.thread:
        line = f"{_THREAD_EMOJI.get(message.kind, '')} {escape(message.headline, 500)}".strip()
        if message.ping and _GROUP_ID.match(message.ping):
            line = f"<!subteam^{message.ping}> {line}"  # the operator's group, never user text
        link = safe_url(message.url)
        if link:
            line += f"  <{link}|view reply>"
        if message.text:
            quoted = escape(message.text, MAX_TEXT - len(line) - 50)
            line += "\n" + "\n".join("> " + part for part in quoted.splitlines())
        return [SectionBlock(text=MarkdownTextObject(text=line, verbatim=True))]
    headline = escape(message.headline, limit=140) or "Mention"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=headline[:150], emoji=False))]
    if message.mention_id is None and message.sentiment is None:
        # feed health, recovery, spikes, digests: about the monitor, not one customer's mood
        context = [_KIND_BADGE.get(message.kind, ":information_source: *monitor*")]
    else:
        emoji = _EMOJI.get(message.sentiment or "", _EMOJI_POSITIVE)
        context = [f"{emoji} *{escape(message.sentiment or 'unscored', 20)}*"]
    if message.source:
        context.append(escape(message.source, 200))
    if message.author:
        context.append(f"by {escape(message.author, 100)}")
    if message.age:
        context.append(escape(message.age, 40))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text="  ·  ".join(context))]))
    body = ""
    if message.title:
        body += f"*{escape(message.title, 300)}*\n"
    if message.text:
        quoted = escape(message.text, MAX_TEXT - len(body) - 50)
        body += "\n".join("> " + line if line else ">" for line in quoted.splitlines())
    if body:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=body[:MAX_TEXT], verbatim=True)))
    facts = list(message.facts)
    if message.rating is not None:
        facts.insert(0, ("Rating", f"{message.rating:g} ★"))
    if message.language:
        facts.append(("Language", message.language))
    if message.sla:
        facts.append(("SLA", message.sla))
    if facts:
        fields = [
            MarkdownTextObject(text=f"*{escape(k, 40)}*\n{escape(v, 200)}", verbatim=True)
            for k, v in facts[:10]
        ]
        blocks.append(SectionBlock(fields=fields))
    if message.answered:
        answered = f":white_check_mark: {escape(message.answered, 500)}"
        link = safe_url(message.answered_url)
        if link:
            answered += f"  <{link}|view reply>"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=answered, verbatim=True)))
    state = _state_lines(message)
    if state:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line) for line in state]))
    elements = _buttons(message)
    if elements:
        blocks.append(ActionsBlock(elements=elements))
    return blocks


def _who(name: str | None) -> str:
    name = escape(name or "someone", 80)
    return name if name.startswith("@") else "@" + name


def _state_lines(message: AlertMessage) -> list[str]:
    """Who claimed, snoozed, handled or dismissed it (set from Slack buttons)."""
    lines = []
    if message.resolution == "handled":
        lines.append(
            f":ballot_box_with_check: marked handled by {_who(message.resolved_by)}"
            " (answered outside the monitored platforms)"
        )
    elif message.resolution == "dismissed":
        lines.append(f":no_entry_sign: dismissed as not relevant by {_who(message.resolved_by)}")
    if message.claimed_by:
        lines.append(f":raising_hand: claimed by {_who(message.claimed_by)}")
    if message.snoozed_until is not None and message.resolution is None:
        stamp = int(message.snoozed_until.timestamp())
        fallback = message.snoozed_until.strftime("%Y-%m-%d %H:%M UTC")
        # Slack shows <!date^...> in each reader's own time zone
        when = f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>"
        lines.append(f":zzz: SLA alerts snoozed until {when} by {_who(message.snoozed_by)}")
    return lines


def _buttons(message: AlertMessage) -> list[InteractiveElement]:
    """Reply (where the platform takes one), Claim, Mark handled, Snooze, Dismiss while the
    mention is open; Open always."""
    elements: list[InteractiveElement] = []
    mention = str(message.mention_id) if message.mention_id else None
    if message.buttons and mention:
        if message.reply:
            elements.append(
                ButtonElement(
                    text=PlainTextObject(text="Reply", emoji=False),
                    action_id=ACTION_REPLY,
                    value=mention,
                    style="primary",
                )
            )
        if not message.claimed_by:
            elements.append(
                ButtonElement(
                    text=PlainTextObject(text="Claim", emoji=False),
                    action_id=ACTION_CLAIM,
                    value=mention,
                    style="primary",
                )
            )
        elements.append(
            ButtonElement(
                text=PlainTextObject(text="Mark handled", emoji=False),
                action_id=ACTION_HANDLED,
                value=mention,
            )
        )
        elements.append(
            StaticSelectElement(
                placeholder=PlainTextObject(text="Snooze", emoji=False),
                action_id=ACTION_SNOOZE,
                options=[
                    Option(text=PlainTextObject(text=label, emoji=False), value=f"{mention}:{key}")
                    for key, label in SNOOZE_CHOICES.items()
                ],
            )
        )
        elements.append(
            ButtonElement(
                text=PlainTextObject(text="Dismiss", emoji=False),
                action_id=ACTION_DISMISS,
                value=mention,
                style="danger",
                confirm=ConfirmObject(
                    title="Dismiss as not relevant?",
                    text="Spam or not about us: it leaves the reply rate and is reported"
                    " as dismissed.",
                    confirm="Dismiss",
                    deny="Cancel",
                ),
            )
        )
    url = safe_url(message.url)
    if url:
        elements.append(
            ButtonElement(
                text=PlainTextObject(text="Open", emoji=False), url=url, action_id=ACTION_OPEN
            )
        )
    return elements


def fallback_text(message: AlertMessage) -> str:
    """The notification text (and the text for clients without blocks)."""
    parts = [escape(message.headline, 150)]
    if message.source:
        parts.append(escape(message.source, 100))
    if message.text:
        parts.append(escape(message.text, 300))
    return " — ".join(parts)


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """One in-call retry of a 429 (Slack did not accept it), only if it fits in the call's
    deadline: a retry sent after the caller gave up could post what the caller posts again."""

    def __init__(self, deadlines: threading.local) -> None:
        super().__init__(max_retry_count=1)
        self._deadlines = deadlines

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                try:
                    wait = float(values[0])
                except ValueError:
                    return False
        deadline: float | None = getattr(self._deadlines, "at", None)
        # the handler sleeps Retry-After plus up to a second before the new request
        return deadline is None or time.monotonic() + wait + 1.0 < deadline - 1.0


def call_deadline(timeout: float) -> float:
    """The longest one Slack call may take, whatever the peer does: one answer within
    `slack.timeout`, plus a little. A 429 is retried inside the call only when its Retry-After
    fits; the outbox waits out longer ones. A new scheduler-lease holder waits this long for
    an old holder's call in flight (monitor/leadership/lease.py), so it is kept short."""
    return max(1.0, timeout) + 2.0


class SlackSink:
    """Posts and updates alert messages through the Slack Web API.

    Every call runs on a worker thread under a total deadline (urllib's timeouts are per
    socket read: a peer that drips a byte a second never trips them). A call that misses it
    is reported as an unknown outcome and left to finish or fail on its own thread; the only
    retry inside a call is a 429's, which Slack did not accept."""

    name = "slack"
    # calls still stuck past their deadline before new ones are refused; the outbox sends to
    # up to four channels at once, so one stuck call in each must still leave room
    MAX_HANGING = 8
    MAX_PAGES = 50  # history pages read for one lookup (200 messages each)

    def __init__(
        self, token: str, *, base_url: str, timeout: float = 10.0, deadline: float | None = None
    ) -> None:
        self._deadlines = threading.local()
        # retry_handlers replaces slack_sdk's defaults, which retry a dropped connection: a
        # post Slack had accepted before the reset would go out twice.
        self.client = WebClient(
            token=token,
            base_url=base_url.rstrip("/") + "/",
            timeout=int(max(1, timeout)),
            retry_handlers=[_RateLimitRetry(self._deadlines)],
        )
        self.deadline = deadline if deadline is not None else call_deadline(timeout)
        self._hanging = 0
        self._hanging_lock = threading.Lock()
        # "#name" -> channel ID, learnt from chat.postMessage answers: lookups need the ID
        self._channel_ids: dict[str, str] = {}

    def _payload(self, message: AlertMessage) -> dict[str, Any]:
        return {
            "text": fallback_text(message),
            "blocks": [block.to_dict() for block in build_blocks(message)],
            "unfurl_links": False,
            "unfurl_media": False,
        }

    def post(self, channel: str, message: AlertMessage, thread_ts: str | None = None) -> SendResult:
        # replies carry the key too: conversations.replies finds them after a crash
        metadata = Metadata(
            event_type=EVENT_TYPE,
            event_payload={"alert_key": message.key, "mention_id": message.mention_id or 0},
        )
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        return self._call(
            "chat_postMessage",
            channel=channel,
            metadata=metadata,
            **extra,
            **self._payload(message),
        )

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult:
        payload = self._payload(message)
        payload.pop("unfurl_media")  # chat.update does not take it
        payload.pop("unfurl_links")
        return self._call("chat_update", channel=channel, ts=ts, **payload)

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        """Page through the channel's history since `oldest` (or the replies under
        `thread_ts`) for a message carrying `key`; any failure raises LookupFailed."""
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        if thread_ts:
            method, query = "conversations_replies", {"ts": thread_ts}
        else:
            method, query = "conversations_history", {"oldest": f"{oldest.timestamp():.6f}"}
        cursor: str | None = None
        target = self._channel_id(channel)
        for _page in range(self.MAX_PAGES):
            extra = {"cursor": cursor} if cursor else {}
            try:
                response = self._within_deadline(
                    method,
                    channel=target,
                    include_all_metadata=True,
                    limit=200,
                    **query,
                    **extra,
                )
            except SlackApiError as exc:
                error = str(exc.response.get("error") or "unknown_error")
                reason = error
                if error == "channel_not_found" and target.startswith("#"):
                    error = "channel_id_needed"  # history takes IDs; the route has a #name
                    reason = (
                        f"{error}: the app sees no channel by that name; invite it, or route "
                        "to the channel's ID (C0123...)"
                    )
                raise LookupFailed(
                    f"reading {channel}: {reason}", error=error, permanent=error in PERMANENT_ERRORS
                ) from None
            except (SlackRequestError, OSError, _Refused) as exc:
                raise LookupFailed(f"reading {channel}: {_reason(exc)}") from None
            for item in response.get("messages") or []:
                metadata = item.get("metadata") or {}
                if metadata.get("event_type") == EVENT_TYPE and (
                    (metadata.get("event_payload") or {}).get("alert_key") == key
                ):
                    return str(item.get("ts"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        raise LookupFailed(f"{channel}: more than {self.MAX_PAGES} pages to read")

    def _channel_id(self, channel: str) -> str:
        """The ID a lookup needs: conversations.* take no "#name". A name not learnt from a
        post of this process (the first lookup after a restart) is resolved through
        conversations.list (scopes channels:read, groups:read), read once for every name."""
        if not channel.startswith("#") or channel in self._channel_ids:
            return self._channel_ids.get(channel, channel)
        names: dict[str, str] = {}
        cursor: str | None = None
        for _page in range(self.MAX_PAGES):
            extra = {"cursor": cursor} if cursor else {}
            try:
                response = self._within_deadline(
                    "conversations_list",
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=1000,
                    **extra,
                )
            except SlackApiError as exc:
                error = str(exc.response.get("error") or "unknown_error")
                if error in PERMANENT_ERRORS and error != "missing_scope":  # invalid_auth...
                    raise LookupFailed(
                        f"finding the ID of {channel}: {error}", error=error, permanent=True
                    ) from None
                if error == "missing_scope":
                    raise LookupFailed(
                        f"finding the ID of {channel}: {error}; give the app channels:read and "
                        "groups:read, or route to the channel's ID (C0123...)",
                        error="channel_id_needed",
                        permanent=True,
                    ) from None
                raise LookupFailed(f"finding the ID of {channel}: {error}") from None
            except (SlackRequestError, OSError, _Refused) as exc:
                raise LookupFailed(f"finding the ID of {channel}: {_reason(exc)}") from None
            for item in response.get("channels") or []:
                if item.get("name") and item.get("id"):
                    names["#" + str(item["name"])] = str(item["id"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        self._channel_ids.update({k: v for k, v in names.items() if k not in self._channel_ids})
        # a name the app cannot see is tried as it is: Slack's answer says what is wrong
        return self._channel_ids.get(channel, channel)

    def _within_deadline(self, method: str, **kwargs: Any) -> Any:
        """Run one client call on a worker thread; TimeoutError when it misses the deadline
        (the call may still reach Slack: its outcome is unknown)."""
        with self._hanging_lock:
            if self._hanging >= self.MAX_HANGING:
                # nothing was sent: a definite failure, not an unknown outcome
                raise _Refused(f"{self._hanging} Slack calls still hanging past their deadline")
        outcome: dict[str, Any] = {}
        done = threading.Event()
        at = time.monotonic() + self.deadline

        def work() -> None:
            self._deadlines.at = at
            try:
                outcome["value"] = getattr(self.client, method)(**kwargs)
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc
            finally:
                with self._hanging_lock:
                    done.set()
                    if outcome.get("hanging"):
                        self._hanging -= 1

        threading.Thread(target=work, name=f"slack-{method}", daemon=True).start()
        if not done.wait(self.deadline):
            with self._hanging_lock:
                if not done.is_set():
                    outcome["hanging"] = True
                    self._hanging += 1
                    raise TimeoutError(f"no answer within {self.deadline:g}s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _call(self, method: str, **kwargs: Any) -> SendResult:
        try:
            response = self._within_deadline(method, **kwargs)
        except _Refused as exc:
            return SendResult(ok=False, error=str(exc))
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            retry_after = None
            status = exc.response.status_code
            if status == 429 or error == "ratelimited":
                header = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                    "retry-after"
                )
                retry_after = _seconds(header[0] if isinstance(header, list) else header)
            return SendResult(
                ok=False,
                error=error,
                retry_after=retry_after,
                permanent=error in PERMANENT_ERRORS,
                # a 5xx may come after Slack did the work; Slack's own error answers did not
                unknown=status >= 500,
            )
        except (SlackRequestError, OSError) as exc:  # resets, timeouts, a missed deadline
            return SendResult(ok=False, error=_reason(exc), unknown=not _refused(exc))
        channel = str(response.get("channel") or "")
        if method == "chat_postMessage" and channel and str(kwargs["channel"]).startswith("#"):
            self._channel_ids[str(kwargs["channel"])] = channel
        return SendResult(ok=True, ts=str(response.get("ts")), channel=channel)


class _Refused(Exception):
    """The sink refused to start a call: nothing reached Slack."""


def _refused(exc: BaseException) -> bool:
    """A connection that was never made: the request cannot have reached Slack."""
    reason = getattr(exc, "reason", None)
    return isinstance(exc, ConnectionRefusedError) or isinstance(reason, ConnectionRefusedError)


def _seconds(header: str | None) -> float:
    try:
        return max(0.0, float(header or 1))
    except ValueError:
        return 1.0


def _reason(exc: BaseException) -> str:
    """A short reason without request details (which could carry the token)."""
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"
