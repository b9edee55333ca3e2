"""What a sink is given (a platform-neutral message) and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass
class AlertMessage:
    """Everything a person needs to act on one alert; all text here is untrusted."""

    key: str  # the outbox key, carried in Slack message metadata for reconciliation
    kind: str
    headline: str
    text: str = ""
    source: str = ""  # e.g. "reddit · acme-reddit", shown as is
    author: str | None = None
    url: str | None = None
    title: str | None = None
    sentiment: str | None = None
    polarity: float | None = None
    rating: float | None = None
    language: str | None = None
    created_at: datetime | None = None
    age: str | None = None
    sla: str | None = None
    answered: str | None = None  # "answered by @acme in 12m (business 12m)"
    answered_url: str | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    mention_id: int | None = None
    thread: bool = False  # a short reply under the first message, not a new message
    # What people did from Slack (monitor/slack/actions.py); buttons only while the mention is open.
    buttons: bool = False
    reply: bool = False  # a Reply button too: the platform takes the brand's answer from Slack
    claimed_by: str | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    resolution: str | None = None  # "handled" (answered outside the platforms) | "dismissed"
    resolved_by: str | None = None
    ping: str | None = None  # a Slack user group ID from the operator's config (S0123...)


@dataclass
class SendResult:
    """The outcome of one send. Sinks report, they never raise into the pipeline."""

    ok: bool
    ts: str | None = None
    channel: str | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False  # retrying will not help until the operator fixes something
    # The request may have reached Slack (a reset or timeout after it was sent, a missed
    # deadline): it must be looked up before it is sent again, never assumed lost.
    unknown: bool = False


class LookupFailed(Exception):
    """A lookup for an earlier post could not be answered: "unknown", never "not posted"."""

    def __init__(self, reason: str, *, error: str | None = None, permanent: bool = False):
        super().__init__(reason)
        self.error = error  # Slack's error code, when Slack answered with one
        self.permanent = permanent  # e.g. invalid_auth, missing_scope: the operator must act


class Sink(Protocol):
    name: str

    def post(
        self, channel: str, message: AlertMessage, thread_ts: str | None = None
    ) -> SendResult: ...

    def update(self, channel: str, ts: str, message: AlertMessage) -> SendResult: ...

    def find_posted(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> str | None:
        """The ts of a message already posted for `key` (top level since `oldest`, or a reply
        under `thread_ts`), None when it is proven absent; raises LookupFailed otherwise."""
        ...
