"""Mastodon (and API-compatible servers): a hashtag, the brand account's mentions, or a search.

- Polls one stream per feed, on the instance in `base_url` (default https://mastodon.social;
  self-hosted instances are normal):
  `tag`: GET /api/v1/timelines/tag/{tag} (public; some instances require a token);
  `mentions = true`: GET /api/v1/notifications?types[]=mention (the token's account);
  `query`: GET /api/v2/search?type=statuses (needs a token; the server decides what is
  searchable: since Mastodon 4.2 only posts of accounts that opted in, or that the token's
  account interacted with).
- Auth: an access token in the env var named by `token_env` (Preferences > Development >
  New application on the instance; scopes `read:statuses read:notifications`).
- Rate limit: 300 requests per 5 minutes per account (X-RateLimit-Remaining, X-RateLimit-Reset
  as an ISO timestamp); a 429 usually has no Retry-After, so the wait comes from the last Reset
  seen, else the next 5-minute boundary. Paging stops early when Remaining reaches 1.
- Cursor: the highest id seen (notification id for `mentions`, status id otherwise). With a
  cursor, timelines and notifications are paged forward with `min_id` (the Link rel=prev
  position), so a bounded poll never leaves a gap; the first run pages back from the newest
  item over `backfill` only. Search results are newest first above `min_id`, paged back with
  `max_id`. Ids compare by (length, text): numeric on Mastodon, flake ids elsewhere.
- Brand reply: a status in the poll written by a brand identity (`account.acct`, also as
  acct@instance, or `account.id`) with `in_reply_to_id` answers that status; `recheck` walks
  GET /api/v1/statuses/{id}/context of open mentions and takes the brand's descendants.
- Quirks: ids are local to the polled instance (a remote status has a different id and a
  `uri` on its home server), so the local `id` is the external id everywhere and `url` falls
  back to `uri`. Content is HTML (links kept as text). Notifications of deleted statuses carry
  `status: null` and are skipped. `edited_at` is kept in `extra`. Boosts are not mentions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import httpx
from pydantic import field_validator, model_validator

from connectors.apijson import decode_json
from connectors.base import (
    BrandIdentity,
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.durations import Duration
from connectors.env import require_env
from connectors.errors import (
    AuthError,
    MalformedResponse,
    NotFoundError,
    RateLimited,
    TransientError,
)
from connectors.http import fetch
from connectors.text import clean_text, html_to_text
from connectors.unreadable import Unreadable

PAGE_SIZE = 40  # the documented maximum for timelines, notifications and search
# GET /api/v1/statuses/:id/context (app/controllers/api/v1/statuses_controller.rb):
# DESCENDANTS_LIMIT for a request without a token, CONTEXT_LIMIT with one
ANONYMOUS_CONTEXT_LIMIT = 60
CONTEXT_LIMIT = 4096
RATE_WINDOW = 300  # Mastodon's per-account limits reset on 5-minute boundaries


class MastodonOptions(ConnectorOptions):
    tag: str | None = None
    """a hashtag, with or without '#' (give one of `tag`, `mentions`, `query`)"""
    mentions: bool = False
    """read the token's account notifications (needs `token_env`)"""
    query: str | None = None
    """search statuses for this text (needs `token_env`)"""
    token_env: str | None = None
    """env var holding an access token"""
    backfill: Duration = 86400.0  # first run only: how far back to read
    """first run only: how far back to read"""
    max_pages: int = 5
    """pages of 40 per poll"""
    max_rechecks: int = 20
    """open mentions whose thread is re-read per sweep"""

    @field_validator("tag")
    @classmethod
    def _bare_tag(cls, value: str | None) -> str | None:
        return value.strip().lstrip("#") or None if value is not None else None

    @field_validator("max_pages", "max_rechecks")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @model_validator(mode="after")
    def _one_stream(self) -> MastodonOptions:
        chosen = [bool(self.tag), self.mentions, bool(self.query)]
        if sum(chosen) != 1:
            raise ValueError(
                "give exactly one of `tag`, `mentions = true` or `query` (one feed per stream)"
            )
        if (self.mentions or self.query) and not self.token_env:
            raise ValueError("`mentions` and `query` need `token_env` (an access token env var)")
        return self


def id_key(value: str) -> tuple[int, str]:
    """Orders ids: numeric snowflakes by value, fixed-width flake ids as text."""
    return (len(value), value)


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _link_param(response: httpx.Response, rel: str, name: str) -> str | None:
    """min_id / max_id from the Link header; the host is ignored (proxies, test doubles)."""
    url = response.links.get(rel, {}).get("url")
    if not url:
        return None
    values = parse_qs(urlparse(url).query).get(name)
    return values[0] if values else None


class MastodonConnector(Connector[MastodonOptions]):
    """Statuses from one Mastodon stream; the brand's replies from the same poll or a recheck."""

    name = "mastodon"
    platform = "mastodon"
    default_interval = 300
    default_base_url = "https://mastodon.social"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rate_reset: datetime | None = None

    # --- HTTP -----------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        env = self.options.token_env
        if not env:
            return {}
        token = require_env(
            env,
            f"the access token of an application created on {self.base_url} "
            "(Preferences > Development)",
        )
        return {"Authorization": f"Bearer {token}"}

    def _get(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        headers: dict[str, str],
        now: datetime,
    ) -> tuple[httpx.Response, bytes]:
        try:
            response, body = fetch(client, f"{self.base_url}{path}", params=params, headers=headers)
        except RateLimited as exc:
            if exc.retry_after is not None:
                raise
            raise RateLimited(str(exc), retry_after=self._wait_hint(now)) from exc
        except AuthError as exc:
            env = self.options.token_env
            hint = (
                f"check the token in {env} and its scopes (read:statuses read:notifications)"
                if env
                else "this instance requires a token: set `token_env`"
            )
            raise AuthError(f"{exc}; {hint}") from exc
        reset = response.headers.get("X-RateLimit-Reset")
        if reset:
            with contextlib.suppress(ValueError):  # non-standard servers: fallback applies
                self._rate_reset = parse_time(reset)
        return response, body

    def _wait_hint(self, now: datetime) -> float:
        if self._rate_reset and self._rate_reset > now:
            return min((self._rate_reset - now).total_seconds(), 3600.0)
        return float(RATE_WINDOW - int(now.timestamp()) % RATE_WINDOW)

    @staticmethod
    def _exhausted(response: httpx.Response) -> bool:
        remaining = response.headers.get("X-RateLimit-Remaining", "")
        return remaining.isdigit() and int(remaining) <= 1

    # --- poll -----------------------------------------------------------------------------

    def _stream(self) -> tuple[str, dict[str, str]]:
        opts = self.options
        if opts.tag:
            return f"/api/v1/timelines/tag/{quote(opts.tag, safe='')}", {}
        if opts.mentions:
            return "/api/v1/notifications", {"types[]": "mention"}
        return "/api/v2/search", {"q": opts.query or "", "type": "statuses", "resolve": "false"}

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        headers = self._auth_headers()
        if state.etag:
            headers["If-None-Match"] = state.etag
        path, base = self._stream()
        search = bool(self.options.query)
        cursor = state.cursor
        forward = cursor is not None and not search
        params = {**base, "limit": str(PAGE_SIZE)}
        if cursor is not None:
            params["min_id"] = cursor
        oldest_wanted = (
            None if cursor is not None else now - timedelta(seconds=self.options.backfill)
        )

        result = PollResult(state=state)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        etag: str | None = None
        for page_number in range(self.options.max_pages):
            response, body = self._get(client, path, params, headers, now)
            if response.status_code == 304:
                return PollResult(state=state, not_modified=True)
            if page_number == 0:
                etag = response.headers.get("ETag")
                headers.pop("If-None-Match", None)  # only the first request repeats a URL
            result.bytes_received += len(body)
            page = self._page(decode_json(body, path), search)
            fresh = [item for item in page if str(item.get("id")) not in seen]
            seen.update(str(item.get("id")) for item in fresh)
            items.extend(fresh)
            if not fresh or len(page) < PAGE_SIZE:
                break
            if self._exhausted(response):
                result.warnings.append("rate limit nearly used up; the rest waits for next poll")
                break
            ids = [str(item["id"]) for item in page]
            if forward:
                params["min_id"] = _link_param(response, "prev", "min_id") or max(ids, key=id_key)
            else:
                if oldest_wanted and self._oldest(page) < oldest_wanted:
                    break
                params["max_id"] = _link_param(response, "next", "max_id") or min(ids, key=id_key)
        else:
            result.warnings.append(f"stopped after {self.options.max_pages} pages")

        for item in items:
            if cursor is not None and id_key(str(item["id"])) <= id_key(cursor):
                continue  # a server that ignored min_id: already seen
            found, warning = self._collect(item, oldest_wanted)
            result.add(found)
            if warning:
                result.warnings.append(warning)
        newest = max((str(item["id"]) for item in items), key=id_key, default=None)
        if newest is not None and (cursor is None or id_key(newest) > id_key(cursor)):
            cursor = newest
        result.state = FeedCursor(cursor=cursor, etag=etag)
        return result

    def _page(self, data: Any, search: bool) -> list[dict[str, Any]]:
        if search:
            if not isinstance(data, dict) or not isinstance(data.get("statuses"), list):
                raise MalformedResponse("search answer has no `statuses` list")
            data = data["statuses"]
        if not isinstance(data, list) or not all(
            isinstance(item, dict) and item.get("id") is not None for item in data
        ):
            raise MalformedResponse("expected a JSON array of objects with an `id`")
        return data

    def _oldest(self, page: list[dict[str, Any]]) -> datetime:
        times = []
        for item in page:
            try:
                times.append(parse_time(item.get("created_at")))
            except ValueError:
                continue
        return min(times, default=datetime.max.replace(tzinfo=UTC))

    def _collect(
        self, item: dict[str, Any], oldest_wanted: datetime | None
    ) -> tuple[MentionRecord | BrandReply | None, str | None]:
        """A status as a mention or the brand's reply (or neither), and a warning if skipped."""
        status = item.get("status") if self.options.mentions else item
        if not isinstance(status, dict):
            return None, None  # a notification whose status was deleted or is no longer visible
        if status.get("reblog"):
            return None, None  # a boost repeats someone else's post; it is not a new mention
        record = self._record(status)
        if record is None:
            return None, f"skipped status {status.get('id')}: no usable created_at"
        if oldest_wanted and record.created_at < oldest_wanted:
            return None, None
        identity = self._brand(status.get("account"))
        if identity is None:
            return record, None
        return (BrandReply.answering(record, identity) if record.parent_id else None), None

    # --- records --------------------------------------------------------------------------

    def _record(self, status: dict[str, Any]) -> MentionRecord | None:
        try:
            created = parse_time(status.get("created_at"))
        except ValueError:
            return None
        account = status.get("account") or {}
        text = html_to_text(status.get("content"))
        warning = clean_text(status.get("spoiler_text") or "")
        if warning:  # a content warning is what readers see first
            text = f"{warning}\n\n{text}" if text else warning
        extra: dict[str, Any] = {"uri": status.get("uri")}
        if status.get("edited_at"):
            extra["edited_at"] = status["edited_at"]
        return MentionRecord(
            platform=self.platform,
            external_id=str(status["id"]),
            created_at=created,
            text=text,
            url=_text(status.get("url")) or _text(status.get("uri")),
            author=_text(account.get("acct")),
            author_id=str(account["id"]) if account.get("id") is not None else None,
            language=_text(status.get("language")),
            parent_id=_str_or_none(status.get("in_reply_to_id")),
            extra=extra,
        )

    def _brand(self, account: Any) -> BrandIdentity | None:
        """Match `acct` as shown (`name` local, `name@host` remote) and fully qualified."""
        if not isinstance(account, dict):
            return None
        acct = account.get("acct") or ""
        account_id = _str_or_none(account.get("id"))
        names = {acct}
        if acct and "@" not in acct:
            host = urlparse(account.get("url") or self.base_url).hostname
            if host:
                names.add(f"{acct}@{host}")
        for name in sorted(names):
            for candidate in (name, f"@{name}"):
                identity = self.brand_identity(candidate or None, account_id)
                if identity:
                    return identity
        return None

    # --- recheck --------------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """The brand's replies among the descendants of open mentions (bounded walk).

        A deleted mention (404) is skipped; an unreadable one (a 4xx, a malformed answer) is
        skipped and counted (`Unreadable`: raised when none could be read); a transient
        failure once a context was read ends the walk with what was found (the next sweep
        asks again), before that it is raised.
        """
        if not self.identities:
            return []
        headers = self._auth_headers()
        replies: dict[str, BrandReply] = {}
        targets = [m for m in mentions if m.platform == self.platform][: self.options.max_rechecks]
        unreadable = Unreadable("mastodon")
        for mention in targets:
            path = f"/api/v1/statuses/{quote(mention.external_id, safe='')}/context"
            try:
                response, body = self._get(client, path, {}, headers, now)
                descendants = _descendants(body, path)
            except NotFoundError:
                unreadable.answered()
                continue  # gone or never visible to us: nothing to find
            except MalformedResponse as exc:
                unreadable.skip(mention.external_id, exc)
                continue
            except TransientError:
                if not unreadable.answers:
                    # nothing read yet: the wait is the feed's news, not the skipped items
                    raise
                break
            unreadable.answered()
            # /context has no paging: it stops at 60 descendants (20 levels deep) without a
            # token and at 4096 with one; a full list may have left an earlier reply out
            limit = CONTEXT_LIMIT if headers else ANONYMOUS_CONTEXT_LIMIT
            cut = len(descendants) >= limit
            for status in descendants:
                if not isinstance(status, dict) or status.get("id") is None:
                    continue
                identity = self._brand(status.get("account"))
                record = self._record(status) if identity else None
                if identity and record and record.parent_id:
                    reply = BrandReply.answering(record, identity)
                    reply.earlier_unseen = cut
                    replies[record.external_id] = reply
            if self._exhausted(response):
                break
        unreadable.done()
        return list(replies.values())


def _descendants(body: bytes, path: str) -> list[Any]:
    """The `descendants` of a /context answer."""
    data = decode_json(body, path)
    descendants = data.get("descendants") if isinstance(data, dict) else None
    if not isinstance(descendants, list):
        raise MalformedResponse(f"{path}: no `descendants` list")
    return descendants


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _text(value: Any) -> str | None:
    """A field Mastodon sends as a string, or None: an object there (a hostile instance,
    a proxy) reached the store and failed the whole page's (or stream batch's) write."""
    return value if isinstance(value, str) and value else None
