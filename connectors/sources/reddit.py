"""Reddit: new posts and comments in a subreddit, a search, or the brand account's mentions.

- Polls (on https://oauth.reddit.com, `raw_json=1`, `limit=100`, newest first), one of:
  `subreddit` -> `/r/{sub}/new` and/or `/r/{sub}/comments`; `query` -> `/search?q=..&sort=new`;
  `mentions = true` -> `/message/mentions` (the inbox of the brand account that logs in).
  API: https://www.reddit.com/dev/api
- Auth: OAuth2 (https://github.com/reddit-archive/reddit/wiki/OAuth2). Create an app at
  https://www.reddit.com/prefs/apps; its id and secret go in REDDIT_CLIENT_ID and
  REDDIT_CLIENT_SECRET (names overridable). Without a user the token is app-only
  (`client_credentials`), enough for subreddits and search; `mentions` reads a user's inbox,
  so it needs a "script" app and the account's login in `username_env` / `password_env`
  (`password` grant). `access_token_env` instead names a variable holding a bearer token
  refreshed by something else. Tokens are cached for their `expires_in`, renewed after a 401,
  and shared (through `Logins`) by every feed of the same app and user.
- Rate limit: per token, announced on every answer as `x-ratelimit-remaining` (a float),
  `x-ratelimit-used` and `x-ratelimit-reset` (seconds to the end of the window). A 429
  raises RateLimited(retry_after=Retry-After, else reset). An answer with remaining below one
  is kept; the poll (or recheck) stops asking and returns what it read, and the next request
  before the reset raises RateLimited(retry_after=the rest of the window). A listing cut short
  that way keeps its cursor, so the next poll reads back to it again.
- Cursor: JSON `{listing: newest fullname seen}`. Each poll reads the newest page and pages
  back with `after=` until it meets an id at or below the saved one (base36 ids grow with
  time), at most `max_pages`; the first run keeps only the last `backfill`. The `before=`
  anchor is not used: once that item is deleted Reddit answers an empty listing forever.
- External ids are fullnames everywhere (`t3_abc` posts, `t1_xyz` comments), because a
  comment's `parent_id` is a fullname: a brand reply's `in_reply_to` is its `parent_id`.
- Brand reply: a comment (t1) whose author is a configured `reddit` identity. A subreddit's
  comment stream shows it in the poll; for search and mentions, `recheck` walks
  `/comments/{article}?comment={id}` (sort old, two levels) of each open mention, bounded
  by `recheck_limit` threads per call. A deleted thread is skipped, an unreadable one
  skipped and counted (connectors/unreadable.py).
- Quirks: `[deleted]` / `[removed]` comment bodies are skipped (a deleted post keeps its
  title and stays); a `[deleted]` author becomes None. `more` stubs (comments the tree left
  out) are not expanded: a brand reply hidden behind one is found once the thread is short
  enough, or by a subreddit comment stream. Listing items of other kinds are ignored.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

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
from connectors.errors import (
    AuthError,
    MalformedResponse,
    NotFoundError,
    RateLimited,
    TransientError,
)
from connectors.http import MAX_RETRY_AFTER, check_response, fetch, parse_retry_after
from connectors.text import clean_text, html_to_text
from connectors.unreadable import Unreadable

log = logging.getLogger(__name__)

WEB_URL = "https://www.reddit.com"
TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
DELETED = {"[deleted]", "[removed]"}
# a token is renewed this long before Reddit says it expires, so no request carries a dead one
TOKEN_MARGIN = timedelta(seconds=60)
_ARTICLE_IN_PATH = re.compile(r"/comments/([a-z0-9]+)")
_FULLNAME = re.compile(r"^t[1-6]_[a-z0-9]+$")
Listing = Literal["posts", "comments"]
LISTINGS: tuple[Listing, ...] = ("posts", "comments")


class _TokenRefused(AuthError):
    """A 401 on the API: the token expired or was revoked; a fresh one may work."""


class RedditOptions(ConnectorOptions):
    subreddit: str | None = None
    """a subreddit's name, without r/ (give `subreddit`, `query` or `mentions`)"""
    listings: list[Listing] = Field(default_factory=lambda: list(LISTINGS), min_length=1)
    """subreddit mode: \"posts\", \"comments\" or both"""
    query: str | None = None
    """search all of reddit for this text"""
    mentions: bool = False
    """the logged-in account's username mentions (needs a user login)"""
    client_id_env: str = "REDDIT_CLIENT_ID"
    """env var holding the app's client id"""
    client_secret_env: str = "REDDIT_CLIENT_SECRET"
    """env var holding the app's client secret"""
    username_env: str | None = None
    """env var holding the account's username (user login)"""
    password_env: str | None = None
    """env var holding the account's password (user login)"""
    access_token_env: str | None = None
    """env var holding a ready access token instead of a login"""
    token_url: str = TOKEN_URL
    """where tokens are requested (a proxy or a test server)"""
    user_agent: str | None = None
    """User-Agent sent to reddit (default: the product's, naming the client)"""
    backfill: Duration = 2 * 86400.0
    """first run only: how far back to read"""
    max_pages: int = Field(default=5, ge=1, le=50)
    """pages of 100 per listing and poll"""
    recheck_limit: int = Field(default=20, ge=0, le=200)
    """threads walked per recheck for brand replies"""
    max_more_calls: int = Field(default=10, ge=0, le=100)
    """`more` stubs under open mentions expanded per recheck (calls of 100 comments)"""

    @field_validator("subreddit")
    @classmethod
    def _bare_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip().removeprefix("/").removeprefix("r/")
        if not re.fullmatch(r"[A-Za-z0-9_+]{2,200}", name):
            raise ValueError("a subreddit name such as 'acme' or 'acme+acmehelp'")
        return name

    @model_validator(mode="after")
    def _one_source(self) -> RedditOptions:
        chosen = [bool(self.subreddit), bool(self.query), self.mentions]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of `subreddit`, `query` or `mentions = true`")
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both `username_env` and `password_env`, or neither")
        if self.mentions and not (self.username_env or self.access_token_env):
            raise ValueError(
                "`mentions` reads the brand account's inbox: set `username_env` and "
                "`password_env` (a script app), or `access_token_env`"
            )
        return self


def id_value(fullname: str) -> int:
    """The base36 number in a fullname; Reddit hands them out in increasing order."""
    return int(fullname.partition("_")[2] or "0", 36)


def _created(data: dict[str, Any]) -> datetime:
    value = data.get("created_utc")
    if not isinstance(value, int | float):
        raise ValueError(f"{data.get('name')} has no created_utc")
    return datetime.fromtimestamp(value, tz=UTC)


def _author(data: dict[str, Any]) -> str | None:
    author = data.get("author")
    return author if isinstance(author, str) and author not in DELETED else None


def _body(data: dict[str, Any], html_key: str, text_key: str) -> str:
    markup = data.get(html_key)
    if isinstance(markup, str) and markup:
        return html_to_text(markup)
    return clean_text(str(data.get(text_key) or ""))


def _url(data: dict[str, Any]) -> str | None:
    """The public page of an item; inbox items carry `context` instead of a permalink."""
    for key in ("permalink", "context"):
        path = data.get(key)
        if isinstance(path, str) and path.startswith("/"):
            return WEB_URL + path.split("?")[0]
    link = data.get("link_permalink")
    if isinstance(link, str) and data.get("id"):
        return f"{link.rstrip('/')}/{data['id']}/"
    return None


def _thread_id(data: dict[str, Any]) -> str | None:
    link_id = data.get("link_id")
    if isinstance(link_id, str):
        return link_id
    match = _ARTICLE_IN_PATH.search(str(data.get("context") or data.get("permalink") or ""))
    return f"t3_{match.group(1)}" if match else None


def _budget_wait(response: httpx.Response) -> float | None:
    """Seconds to the window's reset when an answer says no request is left, else None."""
    remaining = response.headers.get("x-ratelimit-remaining")
    try:
        exhausted = remaining is not None and float(remaining) < 1
    except ValueError:
        exhausted = False
    if not exhausted:
        return None
    reset = parse_retry_after(response.headers.get("x-ratelimit-reset"))
    return reset if reset is not None else MAX_RETRY_AFTER


def _used_up(response: httpx.Response) -> str:
    used = response.headers.get("x-ratelimit-used")
    return f"reddit rate limit used up ({used} requests this window)"


def _load_cursor(raw: str | None) -> tuple[dict[str, str], list[str]]:
    """The saved newest fullname per listing, and a warning when the cursor was unreadable."""
    if not raw:
        return {}, []
    try:
        loaded = loads(raw)
    except ValueError:
        loaded = None
    if not isinstance(loaded, dict):
        return {}, [f"ignored an unreadable reddit cursor {raw[:40]!r}"]
    return {k: v for k, v in loaded.items() if isinstance(v, str) and _FULLNAME.match(v)}, []


def _children(listing: Any) -> list[dict[str, Any]]:
    """The things of a Listing; anything else is not what Reddit documents."""
    if not isinstance(listing, dict) or listing.get("kind") != "Listing":
        raise MalformedResponse("expected a reddit Listing")
    children = (listing.get("data") or {}).get("children")
    if not isinstance(children, list):
        raise MalformedResponse("a reddit Listing without data.children")
    return [c for c in children if isinstance(c, dict) and isinstance(c.get("data"), dict)]


@dataclass
class _PagedBack:
    """One listing paged back: the items to keep, the newest id seen, what to tell the
    operator, and whether the rate limit stopped it before it met the saved id."""

    items: list[dict[str, Any]] = field(default_factory=list)
    newest: str | None = None
    warnings: list[str] = field(default_factory=list)
    cut_short: bool = False  # the rate limit stopped it before the saved id


@dataclass
class TreeWalk:
    """What a comment tree shows: its comments (t1 data, parents first), its `more` stubs
    (comments the tree left out), and whether `max_nodes` cut the walk short."""

    comments: list[dict[str, Any]] = field(default_factory=list)
    stubs: list[dict[str, Any]] = field(default_factory=list)
    cut: bool = False


def walk_tree(things: list[dict[str, Any]], max_nodes: int = 5000) -> TreeWalk:
    """Every comment (t1) and `more` stub in a comment tree, parents first."""
    walk = TreeWalk()
    stack = list(reversed(things))
    while stack:
        thing = stack.pop()
        data = thing.get("data")
        if not isinstance(data, dict):
            continue
        if thing.get("kind") == "more":
            walk.stubs.append(data)
            continue
        if thing.get("kind") != "t1":
            continue
        if len(walk.comments) >= max_nodes:
            walk.cut = True
            break
        walk.comments.append(data)
        replies = data.get("replies")
        if isinstance(replies, dict):  # "" when there are none
            stack.extend(reversed(_children(replies)))
    return walk


def _more_things(payload: Any) -> list[dict[str, Any]]:
    """The things of a /api/morechildren answer: {"json": {"errors", "data": {"things"}}}."""
    body = payload.get("json") if isinstance(payload, dict) else None
    data = body.get("data") if isinstance(body, dict) else None
    things = data.get("things") if isinstance(data, dict) else None
    if not isinstance(things, list):
        raise MalformedResponse("a reddit /api/morechildren answer without json.data.things")
    return [t for t in things if isinstance(t, dict) and isinstance(t.get("data"), dict)]


class RedditConnector(Connector[RedditOptions]):
    """A subreddit, a search or the brand account's mentions on Reddit."""

    name = "reddit"
    platform = "reddit"
    default_interval = 120
    default_base_url = "https://oauth.reddit.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # an answer that used up the budget is kept; the wait holds back the NEXT request
        self._wait_until: datetime | None = None
        self._wait_reason = ""

    # -- auth -----------------------------------------------------------------------------

    def _access_token(self, client: httpx.Client, now: datetime) -> str:
        opts = self.options
        if opts.access_token_env:
            return require_env(opts.access_token_env, "a reddit OAuth bearer token")
        client_id = require_env(opts.client_id_env, "the reddit app's client id")
        return self.logins.token(
            self._account(client_id), now, lambda: self._new_token(client, client_id, now)
        )

    def _account(self, client_id: str) -> tuple[str, str, str, str]:
        """Whose token: the app, and the user it acts for (empty for an app-only token)."""
        user = (
            os.environ.get(self.options.username_env or "", "") if self.options.password_env else ""
        )
        return ("reddit", self.options.token_url, client_id, user.lower())

    def _new_token(
        self, client: httpx.Client, client_id: str, now: datetime
    ) -> tuple[str, datetime]:
        opts = self.options
        secret = require_env(opts.client_secret_env, "the reddit app's client secret")
        form = {"grant_type": "client_credentials"}
        if opts.username_env and opts.password_env:
            form = {
                "grant_type": "password",
                "username": require_env(opts.username_env, "the brand account's reddit username"),
                "password": require_env(
                    opts.password_env, "the brand account's reddit password", verbatim=True
                ),
            }
        try:
            response = client.post(
                opts.token_url,
                data=form,
                auth=(client_id, secret),
                headers=self._headers(None),
            )
        except httpx.TimeoutException as exc:
            raise TransientError("timed out fetching a reddit token") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"network error fetching a reddit token: {exc!r}") from exc
        if response.status_code in (401, 403):
            raise AuthError(
                f"reddit refused the app credentials ({response.status_code}): check "
                f"{opts.client_id_env} and {opts.client_secret_env} (https://www.reddit.com/prefs/apps)"
            )
        self._check_rate(response)
        check_response(response)
        try:
            payload = loads(response.content)
        except ValueError as exc:
            raise MalformedResponse("the reddit token endpoint did not answer JSON") from exc
        if not isinstance(payload, dict):
            raise MalformedResponse("the reddit token endpoint did not answer a JSON object")
        if payload.get("error"):
            # a wrong password is a 200 with {"error": "invalid_grant"}
            raise AuthError(
                f"reddit refused the login ({payload['error']}): check {opts.username_env} and "
                f"{opts.password_env}, and that the account is a developer of the script app"
            )
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise MalformedResponse("the reddit token answer has no access_token")
        expires_in = payload.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        return token, now + timedelta(seconds=lifetime) - TOKEN_MARGIN

    def _headers(self, token: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"bearer {token}"
        if self.options.user_agent:
            headers["User-Agent"] = self.options.user_agent
        return headers

    # -- HTTP -----------------------------------------------------------------------------

    def _check_rate(self, response: httpx.Response) -> None:
        """A 429, or a failed answer that used up the budget, waits for the reset. A good
        answer that used it up is kept (`_note_budget`): only the next request waits."""
        reset = parse_retry_after(response.headers.get("x-ratelimit-reset"))
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited(
                "reddit rate limit reached (429)",
                retry_after=retry_after if retry_after is not None else reset,
            )
        wait = _budget_wait(response)
        if wait is not None and response.status_code >= 400:
            raise RateLimited(_used_up(response), retry_after=wait)

    def _note_budget(self, response: httpx.Response, now: datetime) -> None:
        """An answer with the budget used up: no request before the window's reset."""
        wait = _budget_wait(response)
        if wait is not None:
            until = now + timedelta(seconds=wait)
            if self._wait_until is None or until > self._wait_until:
                self._wait_until, self._wait_reason = until, _used_up(response)

    def _paused(self, now: datetime) -> bool:
        return self._wait_until is not None and now < self._wait_until

    def not_before(self, now: datetime) -> datetime | None:
        """The window's reset after an answer that used up the budget (kept by the pipeline
        with the feed's state, so another worker's poll waits for it too)."""
        return self._wait_until if self._paused(now) else None

    def _raise_if_waiting(self, now: datetime) -> None:
        if self._wait_until is not None and now < self._wait_until:
            raise RateLimited(
                self._wait_reason, retry_after=(self._wait_until - now).total_seconds()
            )

    def _get(
        self, client: httpx.Client, path: str, params: dict[str, str], now: datetime
    ) -> tuple[int, Any]:
        """GET one API path; returns (status, parsed JSON), status 304 with None. Raises
        RateLimited while an earlier answer's used-up budget has not been reset."""
        self._raise_if_waiting(now)
        for attempt in (1, 2):
            token = self._access_token(client, now)
            try:
                response, body = fetch(
                    client,
                    f"{self.base_url}{path}",
                    params=params,
                    headers=self._headers(token),
                    check=self._check,
                )
            except _TokenRefused:
                if attempt == 1 and not self.options.access_token_env:
                    # revoked or expired early: one fresh token, one retry
                    client_id = require_env(
                        self.options.client_id_env, "the reddit app's client id"
                    )
                    self.logins.forget(self._account(client_id), token)
                    continue
                raise
            self._note_budget(response, now)
            if response.status_code == 304:
                return 304, None
            try:
                return response.status_code, loads(body)
            except ValueError as exc:
                raise MalformedResponse(f"reddit answered {path} with something not JSON") from exc
        raise AssertionError("unreachable")

    def _check(self, response: httpx.Response) -> None:
        """Reddit's rate-limit headers first (on any status), then its own words for a 401
        (a fresh token may work) and a 403, then the shared status table."""
        self._check_rate(response)
        if response.status_code == 401:
            raise _TokenRefused(self._auth_message(response.status_code))
        if response.status_code == 403:
            raise AuthError(self._auth_message(response.status_code))
        check_response(response)

    def _auth_message(self, status: int) -> str:
        opts = self.options
        if opts.access_token_env:
            return f"reddit refused the token in {opts.access_token_env} ({status})"
        if status == 401:
            return (
                f"reddit refused a fresh token (401): check {opts.client_id_env} and "
                f"{opts.client_secret_env}"
            )
        if opts.mentions:
            return (
                f"reddit refused access ({status}): the inbox needs the account in "
                f"{opts.username_env} to be a developer of the script app"
            )
        return f"reddit refused access ({status}): the subreddit may be private or banned"

    # -- poll -----------------------------------------------------------------------------

    def _listings(self) -> list[tuple[str, str, dict[str, str]]]:
        opts = self.options
        if opts.subreddit:
            paths = {
                "posts": f"/r/{opts.subreddit}/new",
                "comments": f"/r/{opts.subreddit}/comments",
            }
            return [(key, paths[key], {}) for key in dict.fromkeys(opts.listings)]
        if opts.query:
            return [("search", "/search", {"q": opts.query, "sort": "new", "type": "link"})]
        return [("mentions", "/message/mentions", {})]

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        cursors, warnings = _load_cursor(state.cursor)
        things: dict[str, dict[str, Any]] = {}
        for number, (key, path, extra) in enumerate(self._listings()):
            if number and self._paused(now):
                warnings.append(f"{path}: rate limit used up; read next poll")
                continue
            saved = cursors.get(key)
            floor = None if saved else now - timedelta(seconds=self.options.backfill)
            page = self._page_back(client, path, extra, saved, floor, now)
            if page is None:
                return PollResult(state=state, not_modified=True)
            warnings.extend(page.warnings)
            for item in page.items:
                things.setdefault(item["data"]["name"], item)
            if page.cut_short:
                continue  # the cursor stays: the next poll reads back to it again
            if page.newest and (not saved or id_value(page.newest) > id_value(saved)):
                cursors[key] = page.newest
        result = PollResult(warnings=warnings)
        for thing in things.values():
            result.add(self._item(thing["kind"], thing["data"]))
        result.state = FeedCursor(cursor=json.dumps(cursors, sort_keys=True))
        return result

    def _page_back(
        self,
        client: httpx.Client,
        path: str,
        extra: dict[str, str],
        saved: str | None,
        floor: datetime | None,
        now: datetime,
    ) -> _PagedBack | None:
        """Items newer than `saved` (or than `floor` on a first run), and the newest id seen.

        None means the answer was a 304. The newest id counts items older than `floor` too:
        a first run over a quiet listing still leaves a cursor to continue from.
        """
        walk = _PagedBack()
        after: str | None = None
        for _page in range(self.options.max_pages):
            if after and self._paused(now):
                walk.cut_short = True
                walk.warnings.append(f"{path}: rate limit used up; older items read next poll")
                return walk
            params = {"limit": "100", "raw_json": "1", **extra}
            if after:
                params["after"] = after
            status, payload = self._get(client, path, params, now)
            if status == 304:
                return None
            children = _children(payload)
            reached = False
            for child in children:
                data = child["data"]
                name = data.get("name")
                if child.get("kind") not in ("t1", "t3") or not isinstance(name, str):
                    continue
                if not _FULLNAME.match(name):
                    continue
                if walk.newest is None or id_value(name) > id_value(walk.newest):
                    walk.newest = name
                if saved and id_value(name) <= id_value(saved):
                    reached = True
                    continue
                try:
                    created = _created(data)
                except ValueError as exc:
                    walk.warnings.append(str(exc))
                    continue
                if floor and created < floor:
                    reached = True
                    continue
                walk.items.append(child)
            next_after = payload["data"].get("after")
            if reached or not children or not isinstance(next_after, str):
                return walk
            after = next_after
        walk.warnings.append(
            f"{path}: over {self.options.max_pages} pages since the last poll; older items skipped"
        )
        return walk

    def _item(self, kind: str, data: dict[str, Any]) -> MentionRecord | BrandReply | None:
        """A listing item as a mention, the brand's reply, or None (deleted, brand post)."""
        name = str(data["name"])
        author = _author(data)
        author_id = data.get("author_fullname") if author else None
        created = _created(data)
        if kind == "t1":
            text = _body(data, "body_html", "body")
        else:
            text = _body(data, "selftext_html", "selftext")
        identity = self.brand_identity(author, author_id)
        if identity is not None:
            parent = data.get("parent_id")
            if kind == "t1" and isinstance(parent, str):
                return self._reply(data, identity.bot)
            return None
        if kind == "t1" and str(data.get("body") or "").strip() in DELETED:
            return None  # a deleted or removed comment says nothing about anyone
        title = data.get("title") if kind == "t3" else data.get("link_title")
        return MentionRecord(
            platform=self.platform,
            external_id=name,
            created_at=created,
            text="" if text in DELETED else text,
            url=_url(data),
            author=author,
            author_id=author_id,
            title=clean_text(str(title)) if isinstance(title, str) else None,
            parent_id=data.get("parent_id") if kind == "t1" else None,
            thread_id=_thread_id(data) if kind == "t1" else name,
            extra={"subreddit": data.get("subreddit")},
        )

    def _reply(self, data: dict[str, Any], bot: bool) -> BrandReply:
        return BrandReply(
            platform=self.platform,
            external_id=str(data["name"]),
            in_reply_to=str(data["parent_id"]),
            created_at=_created(data),
            author=_author(data),
            author_id=data.get("author_fullname"),
            url=_url(data),
            text=_body(data, "body_html", "body"),
            bot=bot,
        )

    # -- recheck --------------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Walk the thread under each open mention (bounded) for a comment by the brand."""
        if not self.identities:
            return []
        open_ids = {m.external_id for m in mentions if m.platform == self.platform}
        found: dict[str, BrandReply] = {}
        walked = 0
        more_calls = self.options.max_more_calls
        unreadable = Unreadable("reddit")
        for mention in mentions:
            if walked >= self.options.recheck_limit:
                break
            if walked and self._paused(now):
                log.warning("reddit recheck stopped: rate limit used up; the rest next sweep")
                break
            if mention.platform != self.platform or mention.external_id in found_parents(found):
                continue
            article = _article_of(mention)
            if article is None:
                continue
            params = {"raw_json": "1", "sort": "old", "depth": "2", "limit": "100"}
            if mention.external_id.startswith("t1_"):
                params.update(comment=mention.external_id[3:], context="0")
            walked += 1
            # a token that cannot be had is the feed's failure, not this thread's: raised here
            # (skipped, every thread would ask the token endpoint again: a login per thread)
            self._access_token(client, now)
            try:
                status, payload = self._get(client, f"/comments/{article}", params, now)
                if status == 304 or not isinstance(payload, list) or len(payload) < 2:
                    unreadable.answered()
                    continue
                walk = walk_tree(_children(payload[1]))
            except NotFoundError as exc:
                # a deleted thread: skip it, the others still count
                log.warning("reddit recheck of %s skipped: %s", mention.external_id, exc)
                unreadable.answered()
                continue
            except MalformedResponse as exc:
                unreadable.skip(mention.external_id, exc)
                continue
            unreadable.answered()
            # a stub under an open mention may hide its earliest brand reply: expand it
            stubs = [s for s in walk.stubs if s.get("parent_id") in open_ids]
            shown, hidden, more_calls = self._expand(
                client, article, stubs, open_ids, now, more_calls
            )
            unseen = open_ids if walk.cut else hidden
            for data in walk.comments + shown:
                reply = self._brand_reply(data, open_ids, unseen)
                if reply is not None:
                    found[reply.external_id] = _earliest(found.get(reply.external_id), reply)
        unreadable.done()
        return sorted(found.values(), key=lambda r: r.created_at)

    def _brand_reply(
        self, data: dict[str, Any], open_ids: set[str], unseen: set[str]
    ) -> BrandReply | None:
        parent = data.get("parent_id")
        if parent not in open_ids or not isinstance(data.get("name"), str):
            return None
        identity = self.brand_identity(_author(data), data.get("author_fullname"))
        if identity is None:
            return None
        reply = self._reply(data, identity.bot)
        reply.earlier_unseen = parent in unseen
        return reply

    def _expand(
        self,
        client: httpx.Client,
        article: str,
        stubs: list[dict[str, Any]],
        wanted: set[str],
        now: datetime,
        calls: int,
    ) -> tuple[list[dict[str, Any]], set[str], int]:
        """The comments behind `stubs` (GET /api/morechildren, 100 ids a call, at most
        `calls` calls): (comments, parents whose stubs stay unread, calls left)."""
        comments: list[dict[str, Any]] = []
        hidden: set[str] = set()
        queue = list(stubs)
        while queue:
            stub = queue.pop(0)
            parent = str(stub.get("parent_id"))
            ids = [c for c in stub.get("children") or [] if isinstance(c, str)]
            if not ids:  # "continue this thread": no ids to ask for
                hidden.add(parent)
                continue
            for start in range(0, len(ids), 100):
                if calls <= 0 or self._paused(now):
                    hidden.add(parent)
                    break
                calls -= 1
                params = {
                    "api_type": "json",
                    "link_id": f"t3_{article}",
                    "children": ",".join(ids[start : start + 100]),
                    "sort": "old",
                    "raw_json": "1",
                }
                try:
                    _, payload = self._get(client, "/api/morechildren", params, now)
                    things = _more_things(payload)
                except MalformedResponse as exc:
                    log.warning("reddit: `more` stub under %s not expanded: %s", parent, exc)
                    hidden.add(parent)
                    continue
                for thing in things:
                    data = thing["data"]
                    if thing.get("kind") == "t1":
                        comments.append(data)
                    elif thing.get("kind") == "more" and data.get("parent_id") in wanted:
                        queue.append(data)
        return comments, hidden, calls


def _earliest(known: BrandReply | None, reply: BrandReply) -> BrandReply:
    """Of two sightings of one reply id, the earliest time, and exact if any walk read its
    thread in full."""
    if known is None or reply.created_at < known.created_at:
        return reply
    if reply.created_at == known.created_at and not reply.earlier_unseen:
        return replace(known, earlier_unseen=False)
    return known


def found_parents(found: dict[str, BrandReply]) -> set[str]:
    """Mentions already answered by a non-bot reply in this recheck, from a thread read in
    full, need no second walk."""
    return {r.in_reply_to for r in found.values() if not r.bot and not r.earlier_unseen}


def _article_of(mention: MentionRecord) -> str | None:
    """The base36 id of the post a mention belongs to."""
    for candidate in (mention.thread_id, mention.external_id):
        if candidate and candidate.startswith("t3_"):
            return candidate[3:]
    match = _ARTICLE_IN_PATH.search(mention.url or "")
    return match.group(1) if match else None
