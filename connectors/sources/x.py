"""X (Twitter): posts matching a search, or the brand account's mentions, and its replies.

- Polls (API v2, https://docs.x.com/x-api), one of: `query` -> GET /2/tweets/search/recent
  (the platform's own operators pass through: `"acme" -is:retweet lang:en`), or `user_id`
  (the brand account's numeric id) -> GET /2/users/:id/mentions. Both with `max_results=100`,
  `tweet.fields=created_at,conversation_id,in_reply_to_user_id,referenced_tweets,lang,
  author_id,public_metrics,note_tweet`, `expansions=author_id`, `user.fields=username,name`;
  the author's username comes from `includes.users`.
- Auth: the app's Bearer Token (app-only OAuth 2.0) from the env var `bearer_token_env`
  (default X_BEARER_TOKEN): developer portal > Projects & Apps > the app > Keys and tokens.
  Recent search, the mentions timeline and the user timeline read public posts with it
  (docs.x.com's mentions quickstart calls /2/users/:id/mentions with the Bearer Token);
  `user_token_env` names an OAuth 2.0 user access token (Authorization Code with PKCE,
  scopes tweet.read users.read) used instead: a protected brand account, or per-user
  rate limits.
- Rate limit: per endpoint and 15-minute window, announced on every answer as
  `x-rate-limit-limit` / `x-rate-limit-remaining` / `x-rate-limit-reset` (epoch seconds).
  A good answer with remaining 0 is kept and `not_before` holds the feed until the reset
  (the rest of the poll waits too, and a stream cut short keeps its cursor); a 429 raises
  RateLimited until the reset (Retry-After first when sent). A 429 whose problem
  type is `usage-capped` is the project's monthly Post cap: RateLimited for the longest wait.
  401 -> AuthError naming the env var; 403 `client-not-enrolled` -> AuthError naming the
  access level (tier) the project needs. The `errors` array of a 200 (a deleted or suspended
  referenced post or user) is a warning, not a failure.
- Cursor: JSON {"since_id": newest post id of the stream, "brand": {brand user id: newest id
  of its timeline}}. Each poll asks `since_id=` and pages with `next_token` up to `max_pages`
  pages; the first run reads `backfill_pages` pages only. Post ids are snowflakes, compared as
  integers (never as text: they differ in length). Recent search refuses a `since_id` older
  than its 7-day window (400 invalid-request naming since_id); such a cursor, by our clock or
  by X's, is replaced by `start_time` (7 days back) and the gap is reported.
- Brand reply: a post by a configured `x` identity (its `id` = the brand's user id; or, in
  mentions mode, by `user_id` itself) whose `referenced_tweets` names the mention as
  `replied_to`; `in_reply_to` is that id. A reply deeper in the conversation answers the post
  it replied to, not the root; a customer's self-thread is a mention, never an answer; the
  brand's own posts are not mentions. The brand's replies to customers match neither the
  mentions timeline nor (usually) a search for the brand's name, so each poll also reads the
  brand's own timeline, GET /2/users/:brand_id/tweets?since_id=...&exclude=retweets: one
  request a poll for all open mentions, usually empty (an empty page costs no reads), not
  bound to the 7-day search window (it reaches back 3,200 posts). A search per mention
  (`conversation_id:... from:brand`) would cost a request and its reads per open mention and
  sweep, and sees 7 days only. A reply whose walk stopped before the mention's own id (the
  page bound, the first run, the search window) is `earlier_unseen`; so is one seen only in
  the feed's own stream (a brand identity without `id`, or `brand_timeline = false`).
- Quirks: retweets are not mentions (add `-is:retweet` to the query to save reads). The
  twarc2 archive's extra "__twarc" key and any unknown key are ignored. A post without
  `created_at` (default fields) takes its time from its snowflake id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import Field, field_validator, model_validator

from connectors.apijson import json_object, loads
from connectors.base import (
    BrandIdentity,
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.env import require_env
from connectors.errors import (
    AuthError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    RateLimited,
)
from connectors.http import MAX_RETRY_AFTER, check_response, fetch, parse_retry_after
from connectors.text import clean_text

WEB_URL = "https://x.com"
TWEET_FIELDS = (
    "created_at,conversation_id,in_reply_to_user_id,referenced_tweets,lang,author_id,"
    "public_metrics,note_tweet"
)
SEARCH_WINDOW = timedelta(days=7)
# a start_time this far inside the 7-day window, so the clocks of X and this host may differ
WINDOW_MARGIN = timedelta(minutes=2)
TWITTER_EPOCH_MS = 1288834974657  # snowflake ids carry their creation time after this
DEFAULT_WINDOW = 900.0  # a 429 without a reset header: the 15-minute window
MIN_429_WAIT = 60.0  # a 429 whose reset or Retry-After says "now" (or past) waits this long
WARNINGS_SHOWN = 3
# post and user ids are unsigned 64-bit at most (snowflakes): a longer "id" is junk, and
# would carry since_id past every real post and overflow snowflake_time
MAX_ID = 2**64 - 1
# a post id whose snowflake time is further ahead of our clock than this moves no cursor
ID_CLOCK_SKEW = timedelta(hours=1)
# recent search's longest query with self-serve access (docs.x.com ... build-a-query)
QUERY_LIMIT = 512


class _SinceIdRefused(MalformedResponse):
    """Recent search refused the saved since_id: older than its 7-day window."""


class _QueryRefused(MalformedResponse):
    """X answered 400 to the request: most often the query."""


class XOptions(ConnectorOptions):
    query: str | None = None
    """recent search query, X operators allowed (give `query` or `user_id`)"""
    user_id: str | None = None
    """the brand account's numeric user id: its mentions timeline"""
    bearer_token_env: str = "X_BEARER_TOKEN"
    """env var holding the app's Bearer Token (app-only)"""
    user_token_env: str | None = None
    """env var holding an OAuth 2.0 user access token, used instead of the Bearer Token"""
    brand_timeline: bool = True
    """read the brand identities' own posts each poll to find their replies"""
    max_pages: int = Field(default=5, ge=1, le=50)
    """pages of 100 posts per stream and poll, newest first"""
    backfill_pages: int = Field(default=1, ge=1, le=50)
    """first run: pages read per stream"""

    @field_validator("user_id")
    @classmethod
    def _numeric(cls, value: str | None) -> str | None:
        if value is not None and _id(value.strip()) is None:
            raise ValueError("the numeric user id (not the @handle): see docs/sources/x.md")
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _one_source(self) -> XOptions:
        if bool(self.query and self.query.strip()) == bool(self.user_id):
            raise ValueError("give exactly one of `query` and `user_id`")
        return self


def snowflake_time(tweet_id: str) -> datetime:
    """The creation time a post id carries (ids since November 2010 are snowflakes)."""
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + TWITTER_EPOCH_MS) / 1000, tz=UTC)


def _id(value: Any) -> int | None:
    # ASCII digits only: "²".isdigit() is True and int("²") raises; "١٢٣" is not an X id
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def _created(tweet: dict[str, Any]) -> datetime:
    value = tweet.get("created_at")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    return snowflake_time(str(tweet["id"]))


def _referenced(tweet: dict[str, Any], kind: str) -> str | None:
    refs = tweet.get("referenced_tweets")
    for ref in refs if isinstance(refs, list) else []:  # a number is not iterable
        if isinstance(ref, dict) and ref.get("type") == kind and _id(ref.get("id")) is not None:
            return str(ref["id"])
    return None


def _language(value: Any) -> str | None:
    """`lang` as a language code; "und" (undetermined) and a non-string are none."""
    return value if isinstance(value, str) and value and value != "und" else None


def _text(tweet: dict[str, Any]) -> str:
    note = tweet.get("note_tweet")  # a long post: `text` holds only its first 280 characters
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        return clean_text(note["text"])
    return clean_text(str(tweet.get("text") or ""))


@dataclass
class _Cursor:
    since_id: str | None = None
    brand: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: str | None) -> tuple[_Cursor, list[str]]:
        if not raw:
            return cls(), []
        try:
            data = loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return cls(), [f"ignored an unreadable x cursor {raw[:40]!r}; read as a first run"]
        since = data.get("since_id")
        brand = data.get("brand")
        return cls(
            since_id=since if _id(since) is not None else None,
            brand={
                k: v
                for k, v in (brand.items() if isinstance(brand, dict) else ())
                if _id(k) is not None and _id(v) is not None
            },
        ), []

    def dump(self) -> str:
        return json.dumps(
            {"since_id": self.since_id, "brand": dict(sorted(self.brand.items()))},
            separators=(",", ":"),
        )


@dataclass
class _Walk:
    """One stream read back: its posts (newest first), their authors' usernames, the newest
    id seen, the oldest read, and whether it stopped before its saved position."""

    tweets: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    newest: int | None = None
    oldest: int | None = None
    cut: bool = False
    paused: bool = False  # the rate-limit window stopped it: its cursor stays for next poll
    seen: set[int] = field(default_factory=set)
    partial_errors: list[str] = field(default_factory=list)
    received: int = 0

    def unseen_before(self, mention_id: str) -> bool:
        """An earlier reply to `mention_id` may be unread: the walk stopped before reaching
        back to the mention (every reply to it has a larger id than the mention)."""
        mention = _id(mention_id)
        return self.cut and (self.oldest is None or mention is None or self.oldest > mention)


def _problem(data: dict[str, Any] | None) -> dict[str, Any]:
    """The v2 problem object of an error answer: the body itself (RFC 7807 style: type,
    title, detail, reason, required_enrollment) or the first of its `errors`."""
    if not data:
        return {}
    if data.get("type") or data.get("title"):
        return data
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0]
    return {}


def _describe(problem: dict[str, Any]) -> str:
    parts = [str(problem[k]) for k in ("title", "detail", "message") if problem.get(k)]
    return ": ".join(parts)[:300]


class XConnector(Connector[XOptions]):
    """Posts matching a recent search, or mentioning the brand account, and its replies."""

    name = "x"
    platform = "x"
    default_interval = 300
    default_base_url = "https://api.x.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # an answer that used up the window is kept; the wait holds back the NEXT request
        self._wait_until: datetime | None = None
        self._wait_reason = ""
        # X refused the query with the filters' accounts added: sent without them from then on
        self._narrowing_refused = False

    @classmethod
    def config_warnings(cls, options: ConnectorOptions, interval: float) -> list[str]:
        assert isinstance(options, XOptions)
        if options.brand_timeline:
            return []
        return [
            "brand_timeline = false: the brand's replies are found only when the feed's own "
            "stream shows them (a query matching them; never in a mentions timeline), and "
            "their TTFR is an upper bound"
        ]

    # -- auth -----------------------------------------------------------------------------

    def _token_env(self) -> str:
        return self.options.user_token_env or self.options.bearer_token_env

    def _token(self) -> str:
        if self.options.user_token_env:
            return require_env(
                self.options.user_token_env,
                "an OAuth 2.0 user access token of the brand account (Authorization Code "
                "with PKCE, scopes tweet.read users.read; see docs/sources/x.md)",
            )
        return require_env(
            self.options.bearer_token_env,
            "the X app's Bearer Token (developer portal > Projects & Apps > the app > "
            "Keys and tokens)",
        )

    # -- HTTP -----------------------------------------------------------------------------

    def _reset_wait(self, response: httpx.Response, now: datetime) -> float | None:
        reset = response.headers.get("x-rate-limit-reset", "").strip()
        if not (reset.isascii() and reset.isdigit()):  # "²".isdigit(), float("²") raises
            return None
        return max(0.0, min(float(reset) - now.timestamp(), MAX_RETRY_AFTER))

    def _note_budget(self, response: httpx.Response, path: str, now: datetime) -> None:
        """A good answer that used up its window: no request before the reset."""
        if response.headers.get("x-rate-limit-remaining", "").strip() != "0":
            return
        wait = self._reset_wait(response, now)
        until = now + timedelta(seconds=wait if wait is not None else DEFAULT_WINDOW)
        if self._wait_until is None or until > self._wait_until:
            self._wait_until = until
            self._wait_reason = f"X rate limit window of {path} used up"

    def _paused(self, now: datetime) -> bool:
        return self._wait_until is not None and now < self._wait_until

    def not_before(self, now: datetime) -> datetime | None:
        """The window's reset after an answer that used it up (kept by the pipeline with the
        feed's state, so another worker's poll waits for it too)."""
        return self._wait_until if self._paused(now) else None

    def _get(
        self, client: httpx.Client, path: str, params: dict[str, str], now: datetime
    ) -> tuple[dict[str, Any] | None, int]:
        """One API GET: (the JSON object, bytes received); None for a 304."""
        if self._wait_until is not None and now < self._wait_until:
            raise RateLimited(
                self._wait_reason, retry_after=(self._wait_until - now).total_seconds()
            )
        response, body = fetch(
            client,
            f"{self.base_url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self._token()}"},
            check=None,  # the problem JSON says more than the status: _error
        )
        if response.status_code == 304:
            return None, len(body)
        data = json_object(body, what=f"X {path}")
        if response.status_code >= 400:
            raise self._error(response, data, path, now)
        self._note_budget(response, path, now)
        if data is None:
            raise MalformedResponse(f"X {path}: the answer is not a JSON object")
        if not any(key in data for key in ("data", "meta", "errors")):
            raise MalformedResponse(f"X {path}: neither data, meta nor errors in the answer")
        return data, len(body)

    def _error(
        self, response: httpx.Response, data: dict[str, Any] | None, path: str, now: datetime
    ) -> ConnectorError:
        status = response.status_code
        problem = _problem(data)
        said = _describe(problem)
        kind = str(problem.get("type") or "")
        env = self._token_env()
        if status == 429:
            if kind.endswith("/usage-capped"):
                return RateLimited(
                    f"X {path}: {said or 'usage cap exceeded'}; the project's monthly Post cap "
                    "is used up until the reset date shown in the developer portal "
                    "(or add pay-per-use credits / a higher tier)",
                    retry_after=MAX_RETRY_AFTER,
                )
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = self._reset_wait(response, now)
            if wait is None:
                wait = DEFAULT_WINDOW
            elif wait < 1.0:
                # a reset already past by our clock (the clocks differ), or Retry-After 0:
                # a wait of 0 s makes the feed due at once, to meet the same 429 again
                wait = MIN_429_WAIT
            return RateLimited(
                f"X rate limit reached (429) on {path}; waiting for the window's reset",
                retry_after=wait,
            )
        if status == 401:
            what = (
                "the OAuth 2.0 user access token is expired or revoked (they last two hours): "
                "issue a new one"
                if self.options.user_token_env
                else "the Bearer Token is invalid or was regenerated: copy the app's current "
                "one from the developer portal (Projects & Apps > the app > Keys and tokens)"
            )
            return AuthError(f"X refused the token in {env} (401 {said or 'Unauthorized'}); {what}")
        if status == 403:
            if response.headers.get("x-rate-limit-remaining", "").strip() == "0":
                wait = self._reset_wait(response, now)
                return RateLimited(f"X {path}: rate limited (403)", retry_after=wait)
            if problem.get("reason") == "client-not-enrolled" or kind.endswith("client-forbidden"):
                needed = problem.get("required_enrollment") or "an access level that includes it"
                return AuthError(
                    f"X refused the app (403 {problem.get('reason') or 'client-forbidden'}): "
                    f"{said}. The app behind {env} must belong to a Project with "
                    f"{needed}: recent search and the timelines need paid access (Basic or "
                    "higher, or pay-per-use credits), not Free; see docs/sources/x.md"
                )
            return AuthError(
                f"X refused access to {path} (403 {said or 'Forbidden'}): check the token in "
                f"{env} and the app's access level; a protected account's posts need a user "
                "token of an account that follows it"
            )
        if status in (404, 410):
            return NotFoundError(f"X {path} ({status}): check the feed's user_id")
        if status == 400:
            errors = data.get("errors") if data else None
            named = {
                str(name)
                for e in (errors if isinstance(errors, list) else [])
                if isinstance(e, dict) and isinstance(e.get("parameters"), dict)
                for name in e["parameters"]
            }
            message = next(
                (str(e.get("message")) for e in errors or [] if isinstance(e, dict)), said
            )
            if named == {"since_id"}:
                return _SinceIdRefused(f"X refused the saved since_id (400): {message}")
            return _QueryRefused(
                f"X refused the request (400 {said}; {message}): check the feed's query"
            )
        try:
            check_response(response)
        except ConnectorError as exc:
            return exc
        return MalformedResponse(f"X {path}: unexpected HTTP {status}")

    # -- reading a stream -----------------------------------------------------------------

    def _walk(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        since: str | None,
        pages: int,
        now: datetime,
        token_name: str,
    ) -> _Walk | None:
        """Pages of `path` back to `since` (exclusive), at most `pages`; None for a 304."""
        walk = _Walk()
        token: str | None = None
        for number in range(pages):
            if number and self._paused(now):
                walk.cut = walk.paused = True  # the window is used up: the rest after its reset
                break
            page = dict(params)
            if token:
                page[token_name] = token
            data, size = self._get(client, path, page, now)
            walk.received += size
            if data is None:
                return None
            reached = self._read_page(data, path, since, walk, now)
            meta = data.get("meta")
            next_token = meta.get("next_token") if isinstance(meta, dict) else None
            if reached or not isinstance(next_token, str) or not next_token:
                return walk
            token = next_token
        else:
            walk.cut = True
        return walk

    def _read_page(
        self, data: dict[str, Any], path: str, since: str | None, walk: _Walk, now: datetime
    ) -> bool:
        """Keep a page's posts newer than `since`; True when it reached back to `since`.
        An id dated ahead of `now` by its snowflake is kept but moves no cursor: since_id
        there would hide every real post until then."""
        horizon = now + ID_CLOCK_SKEW
        tweets = data.get("data", [])
        if not isinstance(tweets, list):
            raise MalformedResponse(f"X {path}: `data` is not a list of posts")
        if "data" not in data and "meta" not in data:
            # a 200 with only errors: the stream's own resource is missing
            problem = _problem(data)
            if str(problem.get("type") or "").endswith("/resource-not-found"):
                raise NotFoundError(f"X {path}: {_describe(problem)}; check the feed's user_id")
            raise MalformedResponse(f"X {path}: {_describe(problem) or 'no data'}")
        includes = data.get("includes")
        users = includes.get("users") if isinstance(includes, dict) else None
        for user in users if isinstance(users, list) else []:
            if isinstance(user, dict) and isinstance(user.get("username"), str):
                walk.users[str(user.get("id"))] = user["username"]
        errors = data.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if isinstance(error, dict):
                walk.partial_errors.append(_describe(error) or str(error.get("type")))
        floor = _id(since)
        reached = False
        for tweet in tweets:
            number = _id(tweet.get("id")) if isinstance(tweet, dict) else None
            if number is None:
                raise MalformedResponse(f"X {path}: a post without a numeric id")
            if (walk.newest is None or number > walk.newest) and snowflake_time(
                str(number)
            ) <= horizon:
                walk.newest = number
            if walk.oldest is None or number < walk.oldest:
                walk.oldest = number
            if floor is not None and number <= floor:
                reached = True  # at or before the saved position: read by an earlier poll
                continue
            if number not in walk.seen:  # a post that moved to the next page between calls
                walk.seen.add(number)
                walk.tweets.append(tweet)
        return reached

    # -- the filters' accounts in the query -------------------------------------------------

    def _narrowing_terms(self) -> list[str]:
        """The feed's narrowing in X's operators (docs.x.com/x-api/posts/search/integrate/
        operators: `from:` takes a username or a numeric id, one each, joined by OR, negated
        by -), kept within QUERY_LIMIT with the query: exclusions go first when it is too long
        (each alone may be left out), then the required accounts.

        The brand's own posts stay in the search whatever the filters say: they are its
        replies, which the feed's filters never judge. So the required accounts are joined by
        the brand identities, and an exclusion naming a brand identity is not sent."""
        narrowing = self.narrowing
        if not self.options.query or self._narrowing_refused or not narrowing:
            return []
        brand = [i.account_id or i.handle or "" for i in self.identities]
        brand = [b.removeprefix("@").casefold() for b in brand if b]
        accounts = list(dict.fromkeys([*narrowing.authors, *brand])) if narrowing.authors else []
        group = [f"from:{a}" for a in accounts]
        terms = [group[0] if len(group) == 1 else f"({' OR '.join(group)})"] if group else []
        terms += [f"-from:{a}" for a in narrowing.not_authors if self.brand_identity(a, a) is None]
        base = f"({self.options.query.strip()})"
        while terms and len(" ".join([base, *terms])) > QUERY_LIMIT:
            terms.pop()  # the exclusions are last; the group alone may be too long as well
        return terms

    def sent_narrowing(self) -> str:
        return " ".join(self._narrowing_terms())

    def _search_query(self) -> str:
        query = self.options.query or ""
        terms = self._narrowing_terms()
        # X reads AND before OR: the feed's own query in parentheses keeps its meaning
        return " ".join([f"({query.strip()})", *terms]) if terms else query

    def _walk_search(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        since: str | None,
        pages: int,
        now: datetime,
        warnings: list[str],
    ) -> _Walk | None:
        """The search's pages; when X refuses the query with the filters' accounts in it (an
        account it does not know of, a limit of another access level), once more without
        them, and without them from then on."""
        try:
            return self._walk(client, path, params, since, pages, now, "next_token")
        except _QueryRefused as exc:
            if not self._narrowing_terms():
                raise  # the feed's own query: the operator's to mend
            self._narrowing_refused = True
            params["query"] = self._search_query()
            warnings.append(f"{exc}; sent again without the filters' accounts, from now on")
            return self._walk(client, path, params, since, pages, now, "next_token")

    # -- poll -----------------------------------------------------------------------------

    def _params(self) -> dict[str, str]:
        return {
            "max_results": "100",
            "tweet.fields": TWEET_FIELDS,
            "expansions": "author_id",
            "user.fields": "username,name",
        }

    def _brand_ids(self) -> dict[str, BrandIdentity]:
        """The brand accounts whose timelines are read: identities with an id, and the
        mentioned account itself."""
        ids = {i.account_id: i for i in self.identities if i.account_id and i.account_id.isdigit()}
        if self.options.user_id and self.options.user_id not in ids:
            ids[self.options.user_id] = BrandIdentity(
                platform=self.platform, account_id=self.options.user_id
            )
        return ids

    def _identity(self, author: str | None, author_id: str | None) -> BrandIdentity | None:
        identity = self.brand_identity(author, author_id)
        if identity is None and author_id and author_id == self.options.user_id:
            identity = BrandIdentity(platform=self.platform, account_id=author_id)
        return identity

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        cursor, warnings = _Cursor.load(state.cursor)
        params = self._params()
        since = cursor.since_id
        gap = False
        if options.query:
            path, token_name = "/2/tweets/search/recent", "next_token"
            params["query"] = self._search_query()
            window_start = now - SEARCH_WINDOW + WINDOW_MARGIN
            if since and snowflake_time(since) < window_start:
                # recent search answers 400 to a since_id older than its window
                params["start_time"] = window_start.strftime("%Y-%m-%dT%H:%M:%SZ")
                warnings.append(
                    "the last poll is older than the 7-day search window: posts between "
                    f"{snowflake_time(since):%Y-%m-%d %H:%M} UTC and "
                    f"{window_start:%Y-%m-%d %H:%M} UTC were not read"
                )
                gap = True
            elif since:
                params["since_id"] = since
        else:
            path, token_name = f"/2/users/{options.user_id}/mentions", "pagination_token"
            if since:
                params["since_id"] = since
        pages = options.max_pages if since else options.backfill_pages

        def walk_stream() -> _Walk | None:
            if options.query:
                return self._walk_search(client, path, params, since, pages, now, warnings)
            return self._walk(client, path, params, since, pages, now, token_name)

        try:
            walk = walk_stream()
        except _SinceIdRefused as exc:
            if not options.query:
                raise
            # the window's edge by X's clock: ask from 7 days back, as for an older cursor
            params.pop("since_id", None)
            params["start_time"] = (now - SEARCH_WINDOW + WINDOW_MARGIN).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            warnings.append(f"{exc}; read from 7 days back, posts before were not read")
            gap = True
            walk = walk_stream()
        if walk is None:
            return PollResult(state=state, not_modified=True)
        walk.cut = walk.cut or gap
        if walk.cut and since and not gap and not walk.paused:
            warnings.append(
                f"{path}: over {pages} pages since the last poll; older posts skipped "
                "(raise max_pages or poll more often)"
            )
        result = PollResult(warnings=warnings, bytes_received=walk.received)
        timelines = self._brand_ids() if options.brand_timeline else {}
        replies: dict[str, BrandReply] = {}
        for tweet in walk.tweets:
            found = self._record(tweet, walk.users)
            if isinstance(found, BrandReply):
                if found.author_id in timelines:
                    continue  # its timeline, read below, sees every reply of that account
                # seen in the stream only: an earlier reply need not match the stream at all
                found.earlier_unseen = True
                replies[found.external_id] = found
            else:
                result.add(found)
        if walk.paused:
            result.warnings.append(f"{path}: rate limit used up; older posts read next poll")
        elif walk.newest is not None and (_id(since) or 0) < walk.newest:
            cursor.since_id = str(walk.newest)

        for reply in self._timeline_replies(client, timelines, cursor, result, walk, now):
            replies[reply.external_id] = reply  # a timeline sees every reply of its account
        if options.query and options.brand_timeline and not timelines and self.identities:
            result.warnings.append(
                "no `x` brand identity has an `id`: the brand's replies are seen only when "
                "they match the query, and their TTFR is an upper bound"
            )
        if walk.partial_errors:
            shown = "; ".join(walk.partial_errors[:WARNINGS_SHOWN])
            more = len(walk.partial_errors) - WARNINGS_SHOWN
            result.warnings.append(
                f"X reported {len(walk.partial_errors)} partial error(s), skipped: {shown}"
                + (f" (and {more} more)" if more > 0 else "")
            )
        result.brand_replies = sorted(replies.values(), key=lambda r: int(r.external_id))
        result.state = FeedCursor(cursor=cursor.dump())
        return result

    def _timeline_replies(
        self,
        client: httpx.Client,
        timelines: dict[str, BrandIdentity],
        cursor: _Cursor,
        result: PollResult,
        walk: _Walk,
        now: datetime,
    ) -> list[BrandReply]:
        """The replies on each brand account's own timeline since its saved id (GET
        /2/users/:id/tweets); each timeline's cursor moves in `cursor.brand`."""
        found: list[BrandReply] = []
        for brand_id, identity in timelines.items():
            if self._paused(now):
                result.warnings.append(
                    f"rate limit used up: the brand timeline of {brand_id} is read next poll"
                )
                break
            saved = cursor.brand.get(brand_id)
            params = {**self._params(), "exclude": "retweets"}
            if saved:
                params["since_id"] = saved
            pages = self.options.max_pages if saved else self.options.backfill_pages
            path = f"/2/users/{brand_id}/tweets"
            brand_walk = self._walk(client, path, params, saved, pages, now, "pagination_token")
            if brand_walk is None:
                continue
            result.bytes_received += brand_walk.received
            walk.partial_errors.extend(brand_walk.partial_errors)
            for tweet in brand_walk.tweets:
                if str(tweet.get("author_id") or brand_id) != brand_id:
                    continue
                reply = self._reply(tweet, identity, brand_walk.users)
                if reply is not None:
                    reply.earlier_unseen = brand_walk.unseen_before(reply.in_reply_to)
                    found.append(reply)
            if brand_walk.paused:
                continue  # the next poll reads back to the same saved id
            if brand_walk.newest is not None and (_id(saved) or 0) < brand_walk.newest:
                cursor.brand[brand_id] = str(brand_walk.newest)
        return found

    def _record(
        self, tweet: dict[str, Any], users: dict[str, str]
    ) -> MentionRecord | BrandReply | None:
        """A stream's post as a mention, the brand's reply, or None (a retweet, the brand's
        own post)."""
        author_id = str(tweet["author_id"]) if tweet.get("author_id") else None
        author = users.get(author_id or "")
        identity = self._identity(author, author_id)
        if identity is not None:
            return self._reply(tweet, identity, users)
        if _referenced(tweet, "retweeted"):
            return None
        tweet_id = str(tweet["id"])
        conversation = tweet.get("conversation_id")
        return MentionRecord(
            platform=self.platform,
            external_id=tweet_id,
            created_at=_created(tweet),
            text=_text(tweet),
            url=f"{WEB_URL}/{author or 'i/web'}/status/{tweet_id}",
            author=author,
            author_id=author_id,
            language=_language(tweet.get("lang")),
            parent_id=_referenced(tweet, "replied_to"),
            thread_id=str(conversation) if conversation else tweet_id,
            extra={
                "in_reply_to_user_id": tweet.get("in_reply_to_user_id"),
                "quoted": _referenced(tweet, "quoted"),
                "public_metrics": tweet.get("public_metrics"),
            },
        )

    def _reply(
        self, tweet: dict[str, Any], identity: BrandIdentity, users: dict[str, str]
    ) -> BrandReply | None:
        """The brand's post as its reply to the post it names as `replied_to`; None for a
        post that replies to nothing (the brand's own announcement)."""
        parent = _referenced(tweet, "replied_to")
        if parent is None:
            return None
        tweet_id = str(tweet["id"])
        author_id = str(tweet.get("author_id") or identity.account_id or "") or None
        author = users.get(author_id or "") or identity.handle
        return BrandReply(
            platform=self.platform,
            external_id=tweet_id,
            in_reply_to=parent,
            created_at=_created(tweet),
            author=author,
            author_id=author_id,
            url=f"{WEB_URL}/{author or 'i/web'}/status/{tweet_id}",
            text=_text(tweet),
            bot=identity.bot,
        )
