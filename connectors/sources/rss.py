"""RSS and Atom feeds: Google Alerts, blog comment feeds, forum feeds, any feed.

- Polls: the feed URL given as `url`, with ETag / Last-Modified; a 304 parses nothing.
- Auth: none (a private feed puts its token in the URL: keep it in an env var, `url_env`).
- Rate limit: none signalled by feeds; a 429 or 503 with Retry-After is honoured.
- Cursor: the newest entry time seen (informational); dedupe is by entry id, so late
  entries are never lost.
- Brand reply: an entry whose author is a configured `rss` identity and that carries
  `thr:in-reply-to` (Atom threading, e.g. Blogger comment feeds) answers that entry.
- Quirks: Google Alerts links are google.com/url redirects; the real URL is unwrapped and
  used as the id, so one article reported by two alerts is one mention. Ill-formed feeds
  are parsed loosely (feedparser "bozo"); a body that is not a feed at all is an error.
  An entry with no title, no text and no link (a document cut short leaves one) is
  nothing a person could act on: it is skipped, counted, and the poll carries a warning
  that `monitor status` shows on the feed.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse
from xml.sax import SAXParseException

import feedparser
import httpx
from pydantic import field_validator, model_validator

from connectors import feedxml
from connectors.base import Connector, ConnectorOptions, FeedCursor, MentionRecord, PollResult
from connectors.env import require_env
from connectors.errors import MalformedResponse
from connectors.http import fetch
from connectors.text import clean_text, html_to_text


class RSSOptions(ConnectorOptions):
    url: str | None = None
    """the feed's http(s) URL (give `url` or `url_env`)"""
    url_env: str | None = None
    """env var holding the URL, for private feeds with a token in it"""
    platform: str = "rss"
    """platform name stored on the mentions, e.g. google-alerts"""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _has_url(self) -> RSSOptions:
        if not self.url and not self.url_env:
            raise ValueError("give `url` or `url_env` (the name of an env var holding it)")
        return self


def unwrap_google_redirect(link: str) -> str:
    """https://www.google.com/url?...&url=REAL&ct=ga -> REAL; anything else unchanged."""
    parsed = urlparse(link)
    if parsed.netloc.endswith("google.com") and parsed.path == "/url":
        target = parse_qs(parsed.query).get("url") or parse_qs(parsed.query).get("q")
        if target and target[0].startswith(("http://", "https://")):
            return target[0]
    return link


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*[^>]*>|<!--")


def _entry_text(entry: Any) -> str:
    markup = entry.get("summary") or entry.get("description") or ""
    base = (entry.get("summary_detail") or {}).get("base")
    for content in entry.get("content") or []:
        if content.get("value"):
            markup, base = content["value"], content.get("base")
            break
    text = html_to_text(markup, base)
    if _TAG.search(text):
        # feeds that escape their HTML twice (reddit's) leave markup after one pass
        text = html_to_text(text, base)
    return text


class RSSConnector(Connector[RSSOptions]):
    """Any RSS 2.0 or Atom feed."""

    name = "rss"
    platform = "rss"
    default_interval = 300

    def _url(self) -> str:
        options = self.options
        if options.url:
            return options.url
        return require_env(options.url_env, "the feed URL")

    def host(self) -> str:
        return urlparse(self.options.url or "").netloc or f"env:{self.options.url_env}"

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        headers: dict[str, str] = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        response, body = fetch(client, self._url(), headers=headers)
        if response.status_code == 304:
            return PollResult(state=state, not_modified=True)
        if _ENTITY_DECLARATION.search(body[:65536]):
            # no real feed declares entities; a "billion laughs" document does
            raise MalformedResponse("the feed declares XML entities (an XML bomb?): refused")
        # feedparser's own HTML passes (sanitising, resolving relative links) rewrite markup
        # that `html_to_text` turns into text anyway, script and style left out, relative
        # links resolved against the same xml:base: a third of the parse (bench/README.md)
        feedxml.use_expat()
        parsed = feedparser.parse(
            body,
            response_headers={k.lower(): v for k, v in response.headers.items()},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        if not parsed.get("version") and not parsed.entries:
            reason = parsed.get("bozo_exception") or "no RSS or Atom root element"
            raise MalformedResponse(f"not a feed: {str(reason)[:200]}")
        platform = self.options.platform
        mentions = [self._mention(entry, platform, now) for entry in parsed.entries]
        kept = [m for m in mentions if m.title or m.text.strip() or _web_link(m.url)]
        warnings = []
        if len(kept) < len(mentions):
            skipped = len(mentions) - len(kept)
            # an XML error says where the document broke off ("no element found")
            reason = parsed.get("bozo_exception")
            where = f" (XML: {str(reason)[:200]})" if isinstance(reason, SAXParseException) else ""
            warnings.append(
                f"malformed document: {skipped} of {len(mentions)} entries had no title, text "
                f"or link and were skipped{where}"
            )
            mentions = kept
        newest = max((m.created_at for m in mentions), default=None)
        cursor = state.cursor
        if newest and (cursor is None or newest.isoformat() > cursor):
            cursor = newest.isoformat()
        return PollResult(
            mentions=mentions,
            state=FeedCursor(
                cursor=cursor,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            ),
            bytes_received=len(body),
            warnings=warnings,
        )

    def _mention(self, entry: Any, platform: str, now: datetime) -> MentionRecord:
        link = entry.get("link")
        url = unwrap_google_redirect(link) if link else None
        created = _entry_time(entry)
        title = clean_text(html_to_text(entry.get("title"))) or None
        text = _entry_text(entry)
        if url and link and url != link:
            external_id = url  # Google Alerts: the real URL is the identity of the item
        else:
            external_id = entry.get("id") or link or _content_hash(title, text)
        reply_to = entry.get("thr_in-reply-to") or {}
        author = (entry.get("author") or "").strip() or None
        return MentionRecord(
            platform=platform,
            external_id=str(external_id)[:500],
            created_at=created or now,
            text=text,
            url=url,
            author=author,
            title=title,
            parent_id=reply_to.get("ref") if isinstance(reply_to, dict) else None,
            language=(entry.get("language") or None),
            extra={} if created else {"no_date": True},
        )


def _web_link(url: str | None) -> bool:
    """feedparser makes an id like "tag:..." the link when there is none: no page to open."""
    return url is not None and url.startswith(("http://", "https://"))


def _content_hash(title: str | None, text: str) -> str:
    digest = hashlib.sha256(f"{title}\n{text}".encode()).hexdigest()[:32]
    return f"sha256:{digest}"
