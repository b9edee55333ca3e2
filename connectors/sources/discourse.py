"""Discourse forums (self-hosted community and support forums): new posts or a search.

- Polls: `latest = true` (optionally one `category` id): GET /posts.json, the newest posts of
  the whole forum, paged back with `before=<lowest id seen>`; `query`: GET /search.json?q=
  <query> order:latest (`page=2`, ...). https://docs.discourse.org/#tag/Posts/operation/listLatestPosts,
  https://docs.discourse.org/#tag/Search/operation/search
- Auth: none for a public forum. Otherwise an API key (Admin > API > New key, read scope) in
  the env var named by `api_key_env`, and for an "all users" key the username to act as in
  the env var named by `api_username_env`; sent as `Api-Key` / `Api-Username` headers.
- Rate limit: per IP and per key (defaults about 60 requests a minute); Discourse answers
  429 with `Retry-After` and `Discourse-Rate-Limit-Error-Code`; 429 -> RateLimited.
- Cursor: the highest post id seen (ids only grow); the first run looks back `backfill`.
- Ids: a post is `t/<topic_id>/<post_number>` (the forum resolves that path to the post).
- Brand reply: a post by a configured `discourse` identity (username or user id), or by any
  staff member with `staff_is_brand = true`. It answers post `reply_to_post_number` of its
  topic when set, else the topic's first post. System users (user_id <= 0: system, discobot)
  are never the brand and never mentions. In latest mode the poll sees every post; in query
  mode `recheck` reads the mention's topic (GET /t/{id}.json or /t/{id}/{post_number}.json),
  then the later posts of its `stream` (GET /t/{id}/posts.json?post_ids[]=.., 20 a call, at
  most `max_pages` calls), in post order: a bound leaves only later posts unread.
  A deleted topic is skipped, an unreadable one skipped and counted (connectors/unreadable.py).
- Quirks: content is HTML ("cooked") and is stripped; search hits carry only a `blurb` on
  some versions; whispers, moderator actions and small actions (post_type 2-4) are not
  public posts and are skipped; moving a post to another topic changes its id here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import Field, model_validator

from connectors.apijson import decode_json_object
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
from connectors.errors import AuthError, MalformedResponse, NotFoundError
from connectors.http import fetch
from connectors.text import clean_text, html_to_text
from connectors.unreadable import Unreadable

REGULAR_POST = 1  # 2 moderator action, 3 small action, 4 whisper (staff only)
SYSTEM_USERNAMES = {"system", "discobot"}  # search hits may lack user_id
_POST_ID = re.compile(r"^t/(\d+)/(\d+)$")
# posts asked for per /t/{id}/posts.json call: the forum's own chunk size
POSTS_PER_CALL = 20


class DiscourseOptions(ConnectorOptions):
    query: str | None = None
    """search the forum for this text (give `query` or `latest`)"""
    latest: bool = False
    """read the forum's latest posts"""
    category: int | None = None
    """latest mode: only this category id"""
    api_key_env: str | None = None
    """env var holding an API key (optional for a public forum)"""
    api_username_env: str | None = None
    """env var holding the username the key acts as"""
    staff_is_brand: bool = False
    """any staff member's post counts as the brand's reply"""
    topics_only: bool = False
    """only a topic's first post is a mention, not every reply"""
    backfill: Duration = 2 * 86400.0
    """first run only: how far back to read"""
    max_pages: int = Field(default=5, ge=1, le=20)
    """pages per poll (and further chunks of 20 posts per topic a recheck reads)"""
    max_rechecks: int = Field(default=30, ge=0, le=200)
    """query mode: topics one recheck reads"""

    @model_validator(mode="after")
    def _one_mode(self) -> DiscourseOptions:
        wants_latest = self.latest or self.category is not None
        if bool(self.query) == wants_latest:
            raise ValueError("give exactly one of `query` or `latest = true` (or `category`)")
        return self


def _after_loaded(ids: Any, posts: list[dict[str, Any]]) -> list[int]:
    """The ids of the topic's `stream` (every post id, in order) after the last loaded post."""
    if not isinstance(ids, list) or not posts:
        return []
    loaded = {post["id"] for post in posts}
    positions = [n for n, post_id in enumerate(ids) if post_id in loaded]
    start = max(positions) + 1 if positions else len(ids)
    return [i for i in ids[start:] if isinstance(i, int) and i not in loaded]


def _post_number(post: dict[str, Any]) -> int:
    number = post.get("post_number")
    return number if isinstance(number, int) else 0


def post_id(topic_id: Any, post_number: Any) -> str:
    return f"t/{topic_id}/{post_number}"


def post_url(base_url: str, post: dict[str, Any]) -> str:
    """The post's page on the forum: /t/{slug}/{topic_id}/{post_number}."""
    slug = post.get("topic_slug")
    middle = f"{slug}/" if slug else ""
    return f"{base_url}/t/{middle}{post['topic_id']}/{post.get('post_number')}"


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponse(f"Discourse sent a time that is not text: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedResponse(f"Discourse sent an unreadable time {value!r}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _posts(data: dict[str, Any], key: str, what: str) -> list[dict[str, Any]]:
    posts = data.get(key)
    if posts is None and key == "posts":
        return []  # a search with no hits omits the key on some versions
    if not isinstance(posts, list) or not all(isinstance(p, dict) for p in posts):
        raise MalformedResponse(f"Discourse answer for {what} has no `{key}` list")
    for post in posts:
        if not isinstance(post.get("id"), int) or "topic_id" not in post:
            raise MalformedResponse(f"Discourse post without id/topic_id in {what}")
    return posts


class DiscourseConnector(Connector[DiscourseOptions]):
    """New posts of a Discourse forum (or search hits) and the brand's answers to them."""

    name = "discourse"
    platform = "discourse"
    default_interval = 300
    # self-hosted is the norm: every feed sets `base_url` to its forum; this is only a default
    default_base_url = "https://meta.discourse.org"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        for env, header, what_for in (
            (self.options.api_key_env, "Api-Key", "the Discourse API key (Admin > API)"),
            (self.options.api_username_env, "Api-Username", "the Discourse username"),
        ):
            if env:
                headers[header] = require_env(env, what_for)
        return headers

    def _get(
        self, client: httpx.Client, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[httpx.Response, bytes]:
        try:
            # no params at all keeps a query already in `path` (httpx drops it for {})
            url = f"{self.base_url}{path}"
            return fetch(client, url, params=params or None, headers=headers)
        except AuthError as exc:
            fix = (
                f"check the key in {self.options.api_key_env} and its scopes"
                if self.options.api_key_env
                else "the forum or category is private: set `api_key_env`"
            )
            raise AuthError(f"Discourse refused {path}: {exc}; {fix}") from exc

    # ---- poll ---------------------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        headers = self._headers()
        mark = int(state.cursor) if state.cursor and state.cursor.isdigit() else None
        window_start = now - timedelta(seconds=self.options.backfill)
        result = PollResult(state=state)
        posts: dict[int, dict[str, Any]] = {}
        titles: dict[int, str] = {}
        extra_headers = dict(headers)
        if state.etag:
            extra_headers["If-None-Match"] = state.etag
        etag: str | None = None
        before: int | None = None
        for page in range(self.options.max_pages):
            if self.options.query:
                params = {"q": f"{self.options.query} order:latest"}
                if page:
                    params["page"] = str(page + 1)
                path, key = "/search.json", "posts"
            else:
                params = {"before": str(before)} if before is not None else {}
                path, key = "/posts.json", "latest_posts"
            response, body = self._get(
                client, path, params, extra_headers if page == 0 else headers
            )
            if response.status_code == 304:
                if page == 0:
                    return PollResult(state=state, not_modified=True)
                break
            if page == 0:
                etag = response.headers.get("ETag")
            result.bytes_received += len(body)
            data = decode_json_object(body, f"Discourse {path}")
            page_posts = _posts(data, key, path)
            for topic in data.get("topics") or []:
                if isinstance(topic, dict) and isinstance(topic.get("id"), int):
                    titles[topic["id"]] = str(topic.get("title") or "")
            fresh = [p for p in page_posts if p["id"] not in posts]
            for post in fresh:
                posts[post["id"]] = post
            if not fresh or self._reached(fresh, mark, window_start):
                break
            if self.options.query and not self._search_has_more(data):
                break
            before = min(p["id"] for p in fresh)
        else:
            result.warnings.append(
                f"stopped after {self.options.max_pages} pages; older posts skipped"
            )

        newest = mark
        for post in sorted(posts.values(), key=lambda p: p["id"]):
            newest = post["id"] if newest is None or post["id"] > newest else newest
            if mark is not None and post["id"] <= mark:
                continue
            if mark is None and _time(post.get("created_at")) < window_start:
                continue
            result.add(self._sort(post, titles))
        result.state = FeedCursor(
            cursor=str(newest) if newest is not None else state.cursor, etag=etag or state.etag
        )
        return result

    def _reached(self, page: list[dict[str, Any]], mark: int | None, start: datetime) -> bool:
        """True once a page goes back past the saved id (or the backfill window)."""
        if mark is not None:
            return any(p["id"] <= mark for p in page)
        return any(_time(p.get("created_at")) < start for p in page)

    @staticmethod
    def _search_has_more(data: dict[str, Any]) -> bool:
        grouped = data.get("grouped_search_result") or {}
        return bool(grouped.get("more_full_page_results") or grouped.get("more_posts"))

    def _sort(
        self, post: dict[str, Any], titles: dict[int, str]
    ) -> MentionRecord | BrandReply | None:
        """A post is a brand reply, a mention, or neither (system users, staff-only posts)."""
        if not self._public(post):
            return None
        reply = self._reply(post)
        if reply is not None:
            return reply
        if self._is_brand(post):
            return None  # the brand opening a topic is not a mention
        if self.options.category is not None and post.get("category_id") != self.options.category:
            return None
        if self.options.topics_only and post.get("post_number") != 1:
            return None
        return self._mention(post, titles)

    @staticmethod
    def _public(post: dict[str, Any]) -> bool:
        user_id = post.get("user_id")
        if isinstance(user_id, int) and user_id <= 0:
            return False
        if user_id is None and str(post.get("username") or "").lower() in SYSTEM_USERNAMES:
            return False
        if post.get("post_type", REGULAR_POST) != REGULAR_POST:
            return False
        return not post.get("deleted_at") and not post.get("hidden")

    def _is_brand(self, post: dict[str, Any]) -> bool:
        user_id = post.get("user_id")
        if self.brand_identity(post.get("username"), None if user_id is None else str(user_id)):
            return True
        return bool(self.options.staff_is_brand and post.get("staff") and self._public(post))

    def _reply(self, post: dict[str, Any]) -> BrandReply | None:
        """The brand's post answers `reply_to_post_number`, else the topic's first post."""
        if not self._is_brand(post) or post.get("post_number") == 1:
            return None
        user_id = post.get("user_id")
        identity = self.brand_identity(
            post.get("username"), None if user_id is None else str(user_id)
        )
        target = post.get("reply_to_post_number") or 1
        return BrandReply(
            platform=self.platform,
            external_id=post_id(post["topic_id"], post.get("post_number")),
            in_reply_to=post_id(post["topic_id"], target),
            created_at=_time(post.get("created_at")),
            author=post.get("username"),
            author_id=None if user_id is None else str(user_id),
            url=self._url(post),
            text=self._text(post),
            bot=bool(identity and identity.bot),
        )

    def _mention(self, post: dict[str, Any], titles: dict[int, str]) -> MentionRecord:
        topic_id = post["topic_id"]
        reply_to = post.get("reply_to_post_number")
        title = post.get("topic_title") or titles.get(topic_id) or None
        user_id = post.get("user_id")
        return MentionRecord(
            platform=self.platform,
            external_id=post_id(topic_id, post.get("post_number")),
            created_at=_time(post.get("created_at")),
            text=self._text(post),
            url=self._url(post),
            author=post.get("username"),
            author_id=None if user_id is None else str(user_id),
            title=clean_text(title) if title else None,
            parent_id=post_id(topic_id, reply_to) if reply_to else None,
            thread_id=f"t/{topic_id}",
            extra={
                "post_id": post["id"],
                "post_number": post.get("post_number"),
                "category_id": post.get("category_id"),
                "staff": post.get("staff"),
            },
        )

    @staticmethod
    def _text(post: dict[str, Any]) -> str:
        return html_to_text(post.get("cooked") or post.get("blurb") or "")

    def _url(self, post: dict[str, Any]) -> str:
        return post_url(self.base_url, post)

    # ---- recheck ------------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Query mode: read each mentioned topic once, from the earliest open mention on."""
        if not self.options.query or not (self.identities or self.options.staff_is_brand):
            return []  # latest mode sees every post of the forum in its poll
        earliest: dict[int, int] = {}
        wanted: dict[int, set[str]] = {}
        for mention in mentions:
            match = _POST_ID.match(mention.external_id)
            if match:
                topic, number = int(match.group(1)), int(match.group(2))
                earliest[topic] = min(number, earliest.get(topic, number))
                wanted.setdefault(topic, set()).add(mention.external_id)
        headers = self._headers()
        replies: list[BrandReply] = []
        unreadable = Unreadable("discourse")
        for topic, number in list(earliest.items())[: self.options.max_rechecks]:
            try:
                replies += self._topic_replies(client, headers, topic, number, wanted[topic])
            except NotFoundError:
                unreadable.answered()  # a deleted topic, or one the key may not see
            except MalformedResponse as exc:
                unreadable.skip(f"t/{topic}", exc)
            else:
                unreadable.answered()
        unreadable.done()
        return replies

    def _topic_replies(
        self,
        client: httpx.Client,
        headers: dict[str, str],
        topic: int,
        number: int,
        wanted: set[str],
    ) -> list[BrandReply]:
        """The brand's posts in one topic, in post order from the chunk around the earliest
        open mention, then the stream's later posts in chunks of `POSTS_PER_CALL`, up to
        `max_pages` more calls, until every open mention has a human brand reply. Posts are
        read in order, so a bound only leaves later posts unread: a reply found is exact."""
        path = f"/t/{topic}.json" if number <= 1 else f"/t/{topic}/{number}.json"
        response, body = self._get(client, path, {}, headers)
        if response.status_code == 304:
            return []
        data = decode_json_object(body, f"Discourse {path}")
        stream = data.get("post_stream")
        if not isinstance(stream, dict):
            raise MalformedResponse(f"Discourse topic {topic} has no post_stream")
        posts = _posts(stream, "posts", path)
        replies = self._brand_posts(posts)
        unread = _after_loaded(stream.get("stream"), posts)
        for _call in range(self.options.max_pages):
            answered = {r.in_reply_to for r in replies if not r.bot}
            if not unread or wanted <= answered:
                break
            chunk, unread = unread[:POSTS_PER_CALL], unread[POSTS_PER_CALL:]
            more = f"/t/{topic}/posts.json?" + urlencode([("post_ids[]", i) for i in chunk])
            response, body = self._get(client, more, {}, headers)
            if response.status_code == 304:
                break
            page = decode_json_object(body, f"Discourse /t/{topic}/posts.json")
            more_stream = page.get("post_stream")
            if not isinstance(more_stream, dict):
                raise MalformedResponse(f"Discourse /t/{topic}/posts.json has no post_stream")
            batch = _posts(more_stream, "posts", f"/t/{topic}/posts.json")
            replies += self._brand_posts(sorted(batch, key=_post_number))
        return replies

    def _brand_posts(self, posts: list[dict[str, Any]]) -> list[BrandReply]:
        found = (self._reply(post) for post in posts if self._public(post))
        return [reply for reply in found if reply is not None]
