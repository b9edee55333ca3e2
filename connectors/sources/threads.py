"""Threads (Meta): keyword search and the replies to the brand's own threads, with its answers.

- Polls (https://developers.facebook.com/documentation/threads/, base
  https://graph.threads.net/v1.0):
  - with `query`: GET /keyword_search?q=...&search_type=RECENT&search_mode=KEYWORD|TAG
    &since=...&fields=... (keyword-search), newest first, and GET /{user_id}/replies (the
    brand's own replies, retrieve-and-manage-replies) for the brand's answers to them;
  - with `own_threads` (default): GET /{user_id}/threads?since=... (the brand's threads of
    the last `thread_lookback`, at most `max_threads`), then GET /{id}/conversation
    ?reverse=true (every top-level and nested reply, newest first) of each.
  Lists page by `paging.next` / `paging.cursors.after` (connectors/metagraph.py), at most
  `max_pages` pages each, and stop at the first page that reaches back past the window.
- Auth: a Threads user access token of the brand's account (a long-lived token lasts 60
  days), in the env var named by `token_env`, sent as `access_token` through
  `metagraph.graph_get`. Permissions: threads_basic (every call), threads_keyword_search
  (public search; without approval the search only finds the account's own posts),
  threads_read_replies (replies and conversations); threads_manage_replies only to hide
  replies, which the monitor never does.
- Rate limit: per app and user, 4800 x impressions calls per rolling 24 h (impressions at
  least 10), and 2,200 keyword-search queries per user per rolling 24 h across apps (a
  query with no results is not counted). Graph error codes 4/17/32/613/... -> RateLimited;
  usage headers, when sent, slow the feed down (`not_before`).
- Cursor: JSON {"since": newest timestamp seen}. Each call asks from `since` minus
  `OVERLAP` (search indexing lags); the first run from `now - backfill`.
- Brand reply: a post by the brand's user whose `replied_to.id` is the mention: in the
  brand's own replies list, or in a conversation where `is_reply_owned_by_me` is true or
  the `username` is a configured `threads` identity (an identity with `bot = true` is a bot
  reply: it never stops the clock). A brand reply deeper in the same thread (same
  `root_post`, another `replied_to`) answers that other post, not the mention.
- Quirks: replies hidden by the brand (`hide_status` HIDDEN), and those Threads covers,
  blocks or restricts (COVERED, BLOCKED, RESTRICTED), are not mentions: the brand has
  moderated them. `timestamp` is ISO 8601 with a `+0000` offset. `username` is only given
  for public profiles and accounts the brand follows; a reply without one is still a
  mention, authorless. The keyword search returns an empty list for terms Meta deems
  sensitive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from connectors import metagraph
from connectors.apijson import loads
from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.durations import Duration
from connectors.env import require_env
from connectors.errors import MalformedResponse
from connectors.text import clean_text

PAGE_SIZE = "100"
# keyword-search queries a user may send per rolling 24 h, across all apps (keyword-search)
SEARCH_QUERIES_PER_DAY = 2200
# Search results are indexed with a lag: each poll asks again from a little before the cursor.
OVERLAP = timedelta(minutes=10)
SEARCH_FIELDS = "id,text,username,timestamp,permalink,media_type,is_reply,root_post,replied_to"
REPLY_FIELDS = f"{SEARCH_FIELDS},hide_status,is_reply_owned_by_me"
THREAD_FIELDS = "id,timestamp,permalink"
# hide_status values of a reply the brand moderated or Threads covers: not to be answered
MODERATED = {"HIDDEN", "COVERED", "BLOCKED", "RESTRICTED"}


class ThreadsOptions(ConnectorOptions):
    query: str | None = None
    """keyword search terms (needs threads_keyword_search)"""
    search_mode: Literal["KEYWORD", "TAG"] = "KEYWORD"
    """KEYWORD: words in posts; TAG: a topic tag"""
    own_threads: bool = True
    """read the replies to the brand's own threads"""
    user_id: str = "me"
    """the brand's Threads user id (`me`: the token's user)"""
    token_env: str = "THREADS_ACCESS_TOKEN"
    """env var holding the Threads user access token"""
    backfill: Duration = 2 * 86400
    """first run: how far back to read"""
    thread_lookback: Duration = 7 * 86400
    """the brand's threads younger than this have their replies read"""
    max_threads: int = Field(default=10, ge=1, le=100)
    """the brand's newest threads whose conversations are read per poll"""
    max_pages: int = Field(default=3, ge=1, le=20)
    """pages of 100 per list per poll, a hard bound"""

    @model_validator(mode="after")
    def _something_to_read(self) -> ThreadsOptions:
        if not self.query and not self.own_threads:
            raise ValueError("give a `query`, or keep `own_threads = true`, or both")
        return self


def _cursor_time(cursor: str | None) -> datetime | None:
    if not cursor:
        return None
    try:
        data = loads(cursor)
    except ValueError:
        return None
    return metagraph.graph_time(data.get("since")) if isinstance(data, dict) else None


def _id(value: Any) -> str | None:
    """A media id as text: the API sends strings of digits; a number is read too, anything
    else (an object, a list, a bool) is no id (str() of it made ids like "{'a': 1}")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _ref(item: dict[str, Any], key: str) -> str | None:
    """The id of `root_post` / `replied_to` ({"id": ...})."""
    value = item.get(key)
    return _id(value.get("id")) if isinstance(value, dict) else None


class ThreadsConnector(Connector[ThreadsOptions]):
    """Keyword search on Threads and the replies to the brand's threads."""

    name = "threads"
    platform = "threads"
    default_interval = 600  # keyword search: 2,200 queries a day per user, shared by apps
    default_base_url = "https://graph.threads.net/v1.0"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume_at: datetime | None = None

    @classmethod
    def config_warnings(cls, options: ConnectorOptions, interval: float) -> list[str]:
        """The per-user keyword-search budget, which other apps of the account share."""
        if not getattr(options, "query", None) or interval <= 0:
            return []
        per_day = 86400 / interval
        if per_day * 2 > SEARCH_QUERIES_PER_DAY:  # half the budget: other apps use it too
            return [
                f"interval of {interval:g}s: the keyword search alone sends {per_day:.0f} "
                f"queries a day (more with max_pages), and Threads allows "
                f"{SEARCH_QUERIES_PER_DAY} per user per rolling 24 h across every app of "
                "the account; poll every 2 minutes or less often"
            ]
        return []

    def not_before(self, now: datetime) -> datetime | None:
        return self._resume_at if self._resume_at and self._resume_at > now else None

    def _token(self) -> str:
        return require_env(
            self.options.token_env,
            "a Threads user access token of the brand's account with threads_basic, "
            "threads_read_replies and (for `query`) threads_keyword_search "
            "(Meta app dashboard > Use cases > Access the Threads API)",
        )

    def _get(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        now: datetime,
        what: str,
    ) -> tuple[httpx.Response, dict[str, Any]]:
        response, data = metagraph.graph_get(
            client,
            self.base_url,
            path,
            params,
            token=self._token(),
            token_env=self.options.token_env,
            what=what,
        )
        wait = metagraph.usage_wait(response.headers, now)
        if wait is not None and (self._resume_at is None or wait > self._resume_at):
            self._resume_at = wait
        return response, data

    def _pages(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        now: datetime,
        what: str,
        stop_before: datetime | None,
        result: PollResult,
    ) -> Iterator[dict[str, Any]]:
        """The items of a list, page after page (newest first), until a page reaches back
        past `stop_before` or `max_pages` pages were read. A 304 ends it."""
        target: tuple[str, dict[str, str]] | None = (path, params)
        for _page in range(self.options.max_pages):
            if target is None:
                return
            response, data = self._get(client, target[0], target[1], now, what)
            if response.status_code == 304:
                result.not_modified = True
                return
            items = data.get("data")
            if not isinstance(items, list):
                raise MalformedResponse(f"{what}: no `data` list")
            result.bytes_received += _size(response)
            oldest: datetime | None = None
            for item in items:
                if isinstance(item, dict):
                    when = metagraph.graph_time(item.get("timestamp"))
                    if when is not None:
                        oldest = when if oldest is None else min(oldest, when)
                    yield item
            if stop_before is not None and oldest is not None and oldest < stop_before:
                return
            target = metagraph.next_page(data, self.base_url, path, params)
        if target is not None:
            result.warnings.append(
                f"{what}: stopped after {self.options.max_pages} pages (max_pages); "
                "older items were not read"
            )

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        saved = _cursor_time(state.cursor)
        since = saved if saved is not None else now - timedelta(seconds=options.backfill)
        window = since - OVERLAP
        unix = str(int(window.timestamp()))
        result = PollResult(state=FeedCursor(cursor=state.cursor))
        newest = saved
        seen: set[str] = set()

        def keep(found: MentionRecord | BrandReply | None) -> None:
            nonlocal newest
            if found is None or found.external_id in seen:
                return
            seen.add(found.external_id)
            if isinstance(found, MentionRecord) and found.created_at < window:
                return  # older than the window: the page that crosses it
            # an item stamped ahead of our clock must not carry the cursor past unread ones
            seen_at = min(found.created_at, now)
            newest = seen_at if newest is None else max(newest, seen_at)
            result.add(found)

        if options.query:
            search = {
                "q": options.query,
                "search_type": "RECENT",
                "search_mode": options.search_mode,
                "fields": SEARCH_FIELDS,
                "since": unix,
                "limit": PAGE_SIZE,
            }
            what = "Threads /keyword_search"
            found = list(self._pages(client, "keyword_search", search, now, what, window, result))
            mine = {"fields": SEARCH_FIELDS, "since": unix, "limit": PAGE_SIZE}
            what = f"Threads /{options.user_id}/replies"
            path = f"{options.user_id}/replies"
            names: set[str] = set()  # the brand's own username(s), as its replies show it
            for item in self._pages(client, path, mine, now, what, window, result):
                if isinstance(item.get("username"), str):
                    names.add(item["username"].casefold())
                keep(self._item(item, owned=True))
            # kept after the brand's own replies: a reply of the brand that matches the query
            # is its answer (seen first), never a mention, as is a post by its username
            for item in found:
                name = item.get("username")
                keep(self._item(item, owned=isinstance(name, str) and name.casefold() in names))
        if options.own_threads and not result.not_modified:
            for thread_id in self._own_threads(client, now, result):
                params = {"fields": REPLY_FIELDS, "reverse": "true", "limit": PAGE_SIZE}
                what = "Threads /{media-id}/conversation"
                path = f"{thread_id}/conversation"
                for item in self._pages(client, path, params, now, what, window, result):
                    keep(self._item(item, owned=bool(item.get("is_reply_owned_by_me"))))
        if result.not_modified:
            return PollResult(state=state, not_modified=True)
        if newest is not None:
            cursor = json.dumps({"since": newest.isoformat()}, separators=(",", ":"))
            result.state = FeedCursor(cursor=cursor)
        return result

    def _own_threads(self, client: httpx.Client, now: datetime, result: PollResult) -> list[str]:
        """The ids of the brand's threads of the last `thread_lookback`, newest first."""
        options = self.options
        start = now - timedelta(seconds=options.thread_lookback)
        params = {
            "fields": THREAD_FIELDS,
            "since": str(int(start.timestamp())),
            "limit": str(options.max_threads),
        }
        what = f"Threads /{options.user_id}/threads"
        response, data = self._get(client, f"{options.user_id}/threads", params, now, what)
        if response.status_code == 304:
            result.not_modified = True
            return []
        items = data.get("data")
        if not isinstance(items, list):
            raise MalformedResponse(f"{what}: no `data` list")
        result.bytes_received += _size(response)
        ids = [_id(t.get("id")) for t in items if isinstance(t, dict)]
        return [i for i in ids if i is not None][: options.max_threads]

    def _item(self, item: dict[str, Any], *, owned: bool) -> MentionRecord | BrandReply | None:
        """A post as a mention, as the brand's reply (by the brand, answering a post), or
        nothing (the brand's own top-level post, a moderated reply, an unreadable item)."""
        item_id = _id(item.get("id"))
        created = metagraph.graph_time(item.get("timestamp"))
        if not item_id or created is None:
            return None
        username = item.get("username") if isinstance(item.get("username"), str) else None
        replied_to = _ref(item, "replied_to")
        identity = self.brand_identity(username, None)
        if identity is not None or owned:
            if replied_to is None:
                return None  # the brand's own thread, not an answer
            permalink = item.get("permalink")
            return BrandReply(
                platform=self.platform,
                external_id=item_id,
                in_reply_to=replied_to,
                created_at=created,
                author=username,
                url=permalink if isinstance(permalink, str) else None,
                text=clean_text(str(item.get("text") or "")) or None,
                bot=identity.bot if identity else False,
            )
        if str(item.get("hide_status") or "") in MODERATED:
            return None
        permalink = item.get("permalink")
        extra: dict[str, Any] = {
            k: item[k] for k in ("media_type", "is_reply", "hide_status") if k in item
        }
        return MentionRecord(
            platform=self.platform,
            external_id=item_id,
            created_at=created,
            text=clean_text(str(item.get("text") or "")),
            url=permalink if isinstance(permalink, str) else None,
            author=username,
            parent_id=replied_to,
            thread_id=_ref(item, "root_post"),
            extra=extra,
        )


def _size(response: httpx.Response) -> int:
    """The body's size as sent (graph_get keeps the bytes to itself)."""
    declared = response.headers.get("Content-Length", "")
    return int(declared) if declared.isdigit() else 0
