"""Bluesky (AT Protocol): posts matching a search, or the brand account's mentions and replies.

- Polls, through the account's PDS in `base_url` (default https://bsky.social, which proxies
  app.bsky.* calls to the Bluesky AppView), one stream per feed:
  `query`: GET /xrpc/app.bsky.feed.searchPosts?q=...&sort=latest&since=...;
  `mentions = true`: GET /xrpc/app.bsky.notification.listNotifications (reasons mention,
  reply and quote; the notifications of the logged-in account, so log in as the brand).
- Auth: a session from POST /xrpc/com.atproto.server.createSession with the handle in
  `handle_env` and an app password in `password_env` (Settings > Privacy and security > App
  passwords), kept for 30 minutes, shared by the feeds of one handle (`Logins`) and renewed
  once on a 401; or a ready access token in `token_env` (short-lived: for proxies and tests).
- Rate limit: per-IP and per-account budgets (bsky.social: 3000 requests per 5 minutes;
  createSession 30 per 5 minutes, 300 a day), signalled by 429 with RateLimit-Remaining /
  RateLimit-Reset (epoch seconds); without Retry-After the wait is the last Reset seen.
- Cursor: the newest sort time seen, as ISO text, where sort time = the earlier of the
  record's createdAt and the server's indexedAt (indexedAt can precede createdAt; a client
  may also backdate or future-date createdAt). Pages (the API's own `cursor`) are read newest
  first until items are older than the saved time less 10 minutes of overlap (first run: less
  `backfill`), bounded by `max_pages`; repeats across polls are deduplicated by the store.
- Brand reply: a post by a brand identity (DID or handle) whose `record.reply.parent.uri` is
  the answered post; seen in the poll, or found by `recheck`, which walks
  app.bsky.feed.getPostThread below each open mention (bounded), skipping blocked and
  not-found nodes.
- Quirks: the external id is the post's at:// URI; the web link is
  https://bsky.app/profile/{handle}/post/{rkey}. Text is plain; link facets hold the full URL
  of a shortened link label (byte offsets into UTF-8), so the URL is put back into the text;
  an external embed's URL is appended when the text lacks it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

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
from connectors.http import MAX_RETRY_AFTER, check_response, fetch
from connectors.text import clean_text

PAGE_SIZE = 100  # the lexicons' maximum for searchPosts and listNotifications
OVERLAP = timedelta(minutes=10)  # late indexing: re-read a little below the saved time
# access tokens live longer; a login every 30 minutes per handle is 48 of the 300 a day
SESSION_TTL = timedelta(minutes=30)
MAX_THREAD_NODES = 1000
POST_COLLECTION = "app.bsky.feed.post"
MENTION_REASONS = ("mention", "reply", "quote")


class BlueskyOptions(ConnectorOptions):
    query: str | None = None
    """search posts for this text (give `query` or `mentions`)"""
    mentions: bool = False
    """read the logged-in account's mention notifications"""
    lang: str | None = None  # searchPosts only: one language code
    """search only: one language code"""
    handle_env: str | None = None
    """env var holding the account handle, e.g. acme.bsky.social"""
    password_env: str | None = None
    """env var holding an app password, never the account password"""
    token_env: str | None = None
    """env var holding a ready access token instead of a login"""
    backfill: Duration = 86400.0  # first run only: how far back to read
    """first run only: how far back to read"""
    max_pages: int = 5
    """pages of 100 per poll"""
    max_rechecks: int = 20
    """open mentions whose reply tree is re-read per sweep"""

    @field_validator("max_pages", "max_rechecks")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @model_validator(mode="after")
    def _stream_and_auth(self) -> BlueskyOptions:
        if bool(self.query) == self.mentions:
            raise ValueError("give exactly one of `query` or `mentions = true` (one feed each)")
        if not self.token_env and not (self.handle_env and self.password_env):
            raise ValueError(
                "give `handle_env` and `password_env` (env vars holding the handle and an app "
                "password), or `token_env`"
            )
        return self


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def format_time(value: datetime) -> str:
    """One fixed ISO form, so saved cursors also order correctly as text."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def web_url(uri: str, handle: str | None, did: str | None) -> str | None:
    """at://did/app.bsky.feed.post/rkey -> https://bsky.app/profile/handle/post/rkey."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != POST_COLLECTION:
        return None
    who = handle if handle and handle != "handle.invalid" else (did or parts[0])
    return f"https://bsky.app/profile/{who}/post/{parts[2]}"


def _link_label(label: str, uri: str) -> str:
    """Bluesky shortens link labels ("example.com/long-pa..."); the reader wants the URL."""
    core = label.strip().rstrip(".…").strip()
    if not core or core.casefold() in uri.casefold():
        return uri
    return f"{label} ({uri})"


def post_record(
    platform: str, uri: str, handle: str | None, did: str | None, record: dict[str, Any]
) -> MentionRecord | None:
    """A post (an app.bsky.feed.post record) as a mention, the same whether it came in an
    API view or in a Jetstream event (which carries no handle); None without a readable
    `createdAt`. What is not of the documented type (a `langs` entry, a reply's `uri`) is
    left out rather than stored."""
    try:
        created = parse_time(record.get("createdAt"))
    except ValueError:
        return None
    reply = _dict(record.get("reply"))
    parent, root = _dict(reply.get("parent")), _dict(reply.get("root"))
    langs = record.get("langs")
    return MentionRecord(
        platform=platform,
        external_id=uri,
        created_at=created,
        text=post_text(record),
        url=web_url(uri, handle, did),
        author=handle,
        author_id=did,
        language=langs[0]
        if isinstance(langs, list) and langs and isinstance(langs[0], str)
        else None,
        parent_id=parent.get("uri") if isinstance(parent.get("uri"), str) else None,
        thread_id=root.get("uri") if isinstance(root.get("uri"), str) else None,
    )


def post_text(record: dict[str, Any]) -> str:
    """The post's text with link facets expanded to their URLs (facets index UTF-8 bytes)."""
    text = record.get("text") if isinstance(record.get("text"), str) else ""
    raw = str(text).encode("utf-8")
    links: list[tuple[int, int, str]] = []
    for facet in record.get("facets") or []:
        index = facet.get("index") if isinstance(facet, dict) else None
        if not isinstance(index, dict):
            continue
        start, end = index.get("byteStart"), index.get("byteEnd")
        for feature in facet.get("features") or []:
            uri = feature.get("uri") if isinstance(feature, dict) else None
            if (
                isinstance(uri, str)
                and isinstance(start, int)
                and isinstance(end, int)
                and 0 <= start < end <= len(raw)
            ):
                links.append((start, end, uri))
    pieces: list[str] = []
    position = 0
    for start, end, uri in sorted(links):
        if start < position:
            continue  # overlapping facets: keep the first
        pieces.append(raw[position:start].decode("utf-8", "replace"))
        pieces.append(_link_label(raw[start:end].decode("utf-8", "replace"), uri))
        position = end
    pieces.append(raw[position:].decode("utf-8", "replace"))
    result = "".join(pieces)
    external = _external_uri(record.get("embed"))
    if external and external not in result:
        result = f"{result}\n{external}" if result else external
    return clean_text(result)


def _external_uri(embed: Any) -> str | None:
    if not isinstance(embed, dict):
        return None
    media = embed.get("media") if isinstance(embed.get("media"), dict) else embed
    external = media.get("external") if isinstance(media, dict) else None
    uri = external.get("uri") if isinstance(external, dict) else None
    return uri if isinstance(uri, str) and uri.startswith(("http://", "https://")) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class BlueskyConnector(Connector[BlueskyOptions]):
    """Posts from a Bluesky search or the brand account's notifications."""

    name = "bluesky"
    platform = "bluesky"
    default_interval = 300
    default_base_url = "https://bsky.social"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rate_reset: datetime | None = None
        # the search refused the filters' account (a handle that does not resolve): not
        # sent again
        self._narrowing_refused = False

    def _author_param(self) -> list[tuple[str, str]]:
        """The feed's narrowing as searchPosts' `author` ("Filter to posts by the given
        account. Handles are resolved to DID before query-time."): one account, and only when
        no brand identity is on Bluesky, since the brand's replies come through the same
        search and the parameter takes no second account. No exclusion exists."""
        authors = self.narrowing.authors
        if self.options.mentions or self._narrowing_refused or len(authors) != 1:
            return []
        return [] if self.identities else [("author", authors[0])]

    def sent_narrowing(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self._author_param())

    # --- auth -----------------------------------------------------------------------------

    def _token(self, client: httpx.Client, now: datetime) -> str:
        opts = self.options
        if opts.token_env:
            return require_env(opts.token_env, "a Bluesky access token")
        handle = require_env(opts.handle_env, "the Bluesky handle the connector logs in as")
        return self.logins.token(
            self._account(handle), now, lambda: self._login(client, handle, now)
        )

    def _account(self, handle: str) -> tuple[str, str, str]:
        """Whose session: feeds logging in as the same handle at the same server share it."""
        return ("bluesky", self.base_url, handle.lower())

    def _login(self, client: httpx.Client, handle: str, now: datetime) -> tuple[str, datetime]:
        opts = self.options
        password = require_env(
            opts.password_env,
            "an app password (Settings > Privacy and security > App passwords)",
            verbatim=True,
        )
        url = f"{self.base_url}/xrpc/com.atproto.server.createSession"
        try:
            response = client.post(url, json={"identifier": handle, "password": password})
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out logging in at {url}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"network error logging in: {exc.__class__.__name__}") from exc
        if response.status_code in (400, 401):
            raise AuthError(
                f"Bluesky refused the login ({response.status_code}) of the handle in "
                f"{opts.handle_env} with the app password in {opts.password_env}: check both"
            )
        check_response(response)
        data = decode_json(response.content, "createSession")
        token = data.get("accessJwt") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise MalformedResponse("createSession answered without an accessJwt")
        return token, now + SESSION_TTL

    # --- HTTP -----------------------------------------------------------------------------

    def _get(
        self,
        client: httpx.Client,
        path: str,
        params: Sequence[tuple[str, str]],
        now: datetime,
        *,
        retried: bool = False,
    ) -> tuple[httpx.Response, bytes]:
        token = self._token(client, now)
        headers = {"Authorization": f"Bearer {token}"}
        # encoded here: XRPC repeats a key for array parameters (reasons=a&reasons=b)
        url = f"{self.base_url}{path}?{urlencode(params)}"
        try:
            response, body = fetch(client, url, headers=headers)
        except AuthError as exc:
            if not self.options.token_env and not retried:
                # expired or revoked: one fresh login, then give up
                handle = require_env(self.options.handle_env, "the Bluesky handle")
                self.logins.forget(self._account(handle), token)
                return self._get(client, path, params, now, retried=True)
            env = self.options.token_env or f"{self.options.handle_env}/{self.options.password_env}"
            raise AuthError(f"{exc}; check the credentials in {env}") from exc
        except RateLimited as exc:
            if exc.retry_after is not None or not self._rate_reset:
                raise
            wait = (self._rate_reset - now).total_seconds()
            raise RateLimited(str(exc), retry_after=min(max(wait, 0.0), MAX_RETRY_AFTER)) from exc
        reset = response.headers.get("RateLimit-Reset", "")
        if reset.isdigit():
            self._rate_reset = datetime.fromtimestamp(int(reset), tz=UTC)
        return response, body

    # --- poll -----------------------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        opts = self.options
        saved: datetime | None = None
        if state.cursor:
            with contextlib.suppress(ValueError):
                saved = parse_time(state.cursor)
        stop_at = saved - OVERLAP if saved else now - timedelta(seconds=opts.backfill)
        base: list[tuple[str, str]] = [("limit", str(PAGE_SIZE))]
        if opts.mentions:
            path, key = "/xrpc/app.bsky.notification.listNotifications", "notifications"
            base += [("reasons", reason) for reason in MENTION_REASONS]
        else:
            path, key = "/xrpc/app.bsky.feed.searchPosts", "posts"
            base += [("q", opts.query or ""), ("sort", "latest"), ("since", format_time(stop_at))]
            base += [("lang", opts.lang)] if opts.lang else []
            base += self._author_param()

        result = PollResult(state=state)
        seen: set[str] = set()
        newest = saved
        page_cursor: str | None = None
        for _ in range(opts.max_pages):
            params = [*base, ("cursor", page_cursor)] if page_cursor else base
            try:
                response, body = self._get(client, path, params, now)
            except MalformedResponse as exc:
                if page_cursor or isinstance(exc, NotFoundError) or not self._author_param():
                    raise
                # the filters' account refused (a handle that no longer resolves): search
                # as without it, and from now on
                self._narrowing_refused = True
                result.warnings.append(f"{exc}; searched again without the filters' account")
                base = [(key, value) for key, value in base if key != "author"]
                response, body = self._get(client, path, base, now)
            if response.status_code == 304:
                return PollResult(state=state, not_modified=True)
            result.bytes_received += len(body)
            data = decode_json(body, key)
            items = data.get(key) if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise MalformedResponse(f"expected a JSON object with a `{key}` list")
            reached_old, fresh = False, 0
            for item in items:
                view = self._view(item)
                if view is None or view[0] in seen:
                    continue
                seen.add(view[0])
                fresh += 1
                sort_at = self._sort_time(view[2], view[3])
                if sort_at is None:
                    result.warnings.append(f"skipped {view[0]}: no usable createdAt")
                    continue
                if sort_at < stop_at:
                    reached_old = True
                    continue
                newest = max(newest, sort_at) if newest else sort_at
                result.add(self._collect(view))
            page_cursor = data.get("cursor") if isinstance(data.get("cursor"), str) else None
            if reached_old or not fresh or not page_cursor:
                break
        else:
            result.warnings.append(f"stopped after {opts.max_pages} pages")
        cursor = format_time(newest) if newest else state.cursor
        result.state = FeedCursor(cursor=cursor)
        return result

    def _view(self, item: Any) -> tuple[str, dict[str, Any], dict[str, Any], Any] | None:
        """(uri, author, record, indexedAt) of a post view or a mention-like notification."""
        if not isinstance(item, dict):
            return None
        if "reason" in item and item.get("reason") not in MENTION_REASONS:
            return None  # likes, reposts, follows: not something to answer
        uri, author, record = item.get("uri"), item.get("author"), item.get("record")
        if not isinstance(uri, str) or not isinstance(author, dict) or not isinstance(record, dict):
            return None
        if record.get("$type", POST_COLLECTION) != POST_COLLECTION:
            return None
        return uri, author, record, item.get("indexedAt")

    @staticmethod
    def _sort_time(record: dict[str, Any], indexed_at: Any) -> datetime | None:
        try:
            created = parse_time(record.get("createdAt"))
        except ValueError:
            return None
        try:
            return min(created, parse_time(indexed_at))
        except ValueError:
            return created

    def _collect(
        self, view: tuple[str, dict[str, Any], dict[str, Any], Any]
    ) -> MentionRecord | BrandReply | None:
        """A post as a mention, or the brand's reply as its BrandReply (None: neither)."""
        record = self._record(*view)
        if record is None:
            return None
        identity = self._brand(record.author, record.author_id)
        if identity is None:
            return record
        return BrandReply.answering(record, identity) if record.parent_id else None

    def _record(
        self, uri: str, author: dict[str, Any], record: dict[str, Any], indexed_at: Any
    ) -> MentionRecord | None:
        post = post_record(self.platform, uri, author.get("handle"), author.get("did"), record)
        if post is not None and indexed_at:
            post.extra = {"indexed_at": indexed_at}
        return post

    def _brand(self, handle: str | None, did: str | None) -> BrandIdentity | None:
        return self.brand_identity(handle, did) or (
            self.brand_identity(f"@{handle}", did) if handle else None
        )

    # --- recheck --------------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """The brand's replies in the reply trees below open mentions (bounded walk).

        A mention that is gone (NotFound) is skipped; a transient failure after the first
        request ends the walk with what was found, the next sweep asks again.
        """
        if not self.identities:
            return []
        replies: dict[str, BrandReply] = {}
        targets = [m for m in mentions if m.platform == self.platform][: self.options.max_rechecks]
        for number, mention in enumerate(targets):
            params = [("uri", mention.external_id), ("depth", "10"), ("parentHeight", "0")]
            try:
                _, body = self._get(client, "/xrpc/app.bsky.feed.getPostThread", params, now)
            except MalformedResponse:
                continue  # NotFound (400) or deleted: nothing to find
            except TransientError:
                if number == 0:
                    raise
                break
            data = decode_json(body, "getPostThread")
            thread = data.get("thread") if isinstance(data, dict) else None
            if not isinstance(thread, dict):
                raise MalformedResponse("getPostThread answered without a `thread`")
            for reply in self._brand_replies(thread):
                replies[reply.external_id] = reply
        return list(replies.values())

    def _brand_replies(self, thread: dict[str, Any]) -> list[BrandReply]:
        """The brand's replies in one thread, marked `earlier_unseen` where the answer may
        not hold every reply: the mention's `replyCount` exceeds the replies shown, or the
        walk stopped at MAX_THREAD_NODES."""
        found: list[BrandReply] = []
        stack: list[Any] = [thread]
        visited = 0
        post, shown = thread.get("post"), thread.get("replies")
        root: dict[str, Any] = post if isinstance(post, dict) else {}
        count = root.get("replyCount")
        partial_root = isinstance(count, int) and count > (
            len(shown) if isinstance(shown, list) else 0
        )
        while stack and visited < MAX_THREAD_NODES:
            node = stack.pop()
            post = node.get("post") if isinstance(node, dict) else None
            if not isinstance(post, dict):
                continue  # blockedPost / notFoundPost carry no post
            visited += 1
            replies = node.get("replies")
            stack.extend(reversed(replies) if isinstance(replies, list) else [])
            view = self._view(post)
            if view is None:
                continue
            author = view[1]
            identity = self._brand(author.get("handle"), author.get("did"))
            record = self._record(*view) if identity else None
            if identity and record and record.parent_id:
                found.append(BrandReply.answering(record, identity))
        cut = bool(stack)
        for reply in found:
            reply.earlier_unseen = cut or (partial_root and reply.in_reply_to == root.get("uri"))
        return found
