"""Meta's webhook: Facebook Page and Instagram comments stored seconds after they are written.

Served on the HTTP endpoint of `[slack] http_port` at `[meta_webhook] path`
(docs/sources/facebook.md#webhook). What it does, by Meta's documentation
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started):

- GET with `hub.mode=subscribe`, `hub.verify_token` and `hub.challenge`: the subscription's
  verification. The challenge is echoed when the token equals the configured one; 403 if not.
- POST: a notification, signed with the app secret (`X-Hub-Signature-256: sha256=<hex HMAC of
  the raw body>`); anything unsigned or signed otherwise is refused with 403 and logged.
  Each entry's account (`entry[].id`: the Page id, or the Instagram account id) picks the feed
  (`page_id` of a `facebook` feed, `ig_user_id` of an `instagram` feed); the feed's connector
  turns each change into mentions (`Connector.pushed`), which are stored, scored and alerted
  as a poll's are, and the answer is 200 once they are committed. A failure to store answers
  500, so Meta sends the notification again (it retries for up to 36 hours).
- Polling stays the fallback and the judge: the brand's own comments in a webhook are left to
  the next poll, which reads the whole thread to say which mention they answer; a mention the
  webhook stored is found stored by that poll and left as it is.
- A signed notification carries no timestamp, so one captured could be sent again: storing
  is idempotent (a mention is stored once by its platform id), so a replay changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from connectors import MentionRecord
from connectors.http import make_client
from monitor.config import Config, FeedConfig
from monitor.ingest.pipeline import Pipeline
from monitor.slack.http import RouteAnswer
from monitor.store.models import utcnow

log = logging.getLogger(__name__)

# the object a notification is about -> (feed type, the option naming that account)
OBJECTS = {"page": ("facebook", "page_id"), "instagram": ("instagram", "ig_user_id")}
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")
# Meta's challenge is a number; anything else is not echoed (a reflected page otherwise)
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_ENTRIES = 1000  # Meta batches up to 1,000 updates in one notification


class MetaWebhook:
    """The route for `HttpListener(routes={path: MetaWebhook(...)})`."""

    def __init__(
        self,
        config: Config,
        engine: Any,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    def attach(self, pipeline: Pipeline) -> None:
        """Store through the process's own pipeline (`monitor run`) instead of a second one."""
        with self._lock:
            self._pipeline = pipeline

    def pipeline(self) -> Pipeline:
        with self._lock:
            if self._pipeline is None:
                # a listener-only process: no platform is called (a connector here only
                # parses), so the client is never used for a request
                self._pipeline = Pipeline(self.config, self.engine, make_client())
            return self._pipeline

    def __call__(
        self, method: str, body: bytes, query: str, headers: Mapping[str, str]
    ) -> RouteAnswer:
        if method == "GET":
            return self.verify(query)
        return self.notify(body, headers)

    # -- the subscription's check ------------------------------------------------------------

    def verify(self, query: str) -> RouteAnswer:
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        expected = self.config.meta_webhook.verify_token()
        given = params.get("hub.verify_token", "")
        challenge = params.get("hub.challenge", "")
        if (
            params.get("hub.mode") == "subscribe"
            and expected
            and hmac.compare_digest(given.encode(), expected.encode())
            and _CHALLENGE.fullmatch(challenge)
        ):
            log.info("meta webhook: subscription verified")
            return RouteAnswer(200, challenge.encode())
        log.warning("meta webhook: refused a verification with a wrong token or challenge")
        return RouteAnswer(403)

    # -- notifications -----------------------------------------------------------------------

    def notify(self, body: bytes, headers: Mapping[str, str]) -> RouteAnswer:
        secret = self.config.meta_webhook.app_secret()
        if not secret:
            log.warning(
                "meta webhook: refused a notification: %s is not set",
                self.config.meta_webhook.app_secret_env,
            )
            return RouteAnswer(403)
        if not signed_by(secret, body, headers.get("x-hub-signature-256", "")):
            log.warning("meta webhook: refused a notification with a wrong signature")
            return RouteAnswer(403)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return RouteAnswer(400)
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            return RouteAnswer(400)
        found = self.mentions(payload)
        now = self.clock()
        try:
            for feed, mentions in found:
                report = self.pipeline().store_pushed(feed, mentions, now)
                log.info(
                    "meta webhook: %s: %d new mention(s) of %d pushed",
                    feed.name,
                    report.new_mentions,
                    len(mentions),
                )
        except Exception:  # Meta sends it again on anything but a 200
            log.exception("meta webhook: storing a notification failed; Meta will resend it")
            return RouteAnswer(500)
        return RouteAnswer(200, b"ok")

    def mentions(self, payload: dict[str, Any]) -> list[tuple[FeedConfig, list[MentionRecord]]]:
        """The mentions of a notification, by the feed that watches each entry's account."""
        kind = OBJECTS.get(str(payload.get("object")))
        if kind is None:
            log.info("meta webhook: ignored a notification about %r", payload.get("object"))
            return []
        by_feed: dict[str, tuple[FeedConfig, list[MentionRecord]]] = {}
        for entry in payload["entry"][:MAX_ENTRIES]:
            if not isinstance(entry, dict):
                continue
            feed = self._feed(kind, str(entry.get("id") or ""))
            if feed is None:
                log.info(
                    "meta webhook: no enabled %s feed has %s = %s",
                    kind[0],
                    kind[1],
                    entry.get("id"),
                )
                continue
            sent = _time(entry.get("time"))
            connector = self.pipeline().connector(feed)
            for change in entry.get("changes") or []:
                if isinstance(change, dict):
                    pushed = connector.pushed(change, sent)
                    by_feed.setdefault(feed.name, (feed, []))[1].extend(pushed)
        return [item for item in by_feed.values() if item[1]]

    def _feed(self, kind: tuple[str, str], account: str) -> FeedConfig | None:
        feed_type, option = kind
        for feed in self.config.feeds:
            if (
                feed.enabled
                and feed.type == feed_type
                and account
                and str(getattr(feed.options, option, "")) == account
            ):
                return feed
        return None


def signed_by(secret: str, body: bytes, header: str) -> bool:
    """`X-Hub-Signature-256` is `sha256=` and the hex HMAC-SHA256 of the raw body."""
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1))


def _time(value: Any) -> datetime | None:
    """An entry's `time`: epoch seconds (milliseconds in some products)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value > 10**11 else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
