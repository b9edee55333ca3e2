"""Reddit: the brand's reply is a comment under the mention (a post or a comment).

- POST https://oauth.reddit.com/api/comment (https://www.reddit.com/dev/api#POST_api_comment)
  with `thing_id` (the mention's fullname: t3_ post, t1_ comment), `text` and
  `api_type=json`. Reddit refuses with a 200 too: {"json": {"errors": [[CODE, words, field]]}}
  is read before anything else: RATELIMIT -> rate_limited (its "try again in 5 minutes" is
  the wait), DELETED_* -> gone, USER_REQUIRED -> auth, any other code -> invalid, quoted.
  A 200 without errors and without the comment (Reddit does that in a quarantined
  subreddit) means it was made but not shown: ReplyUnknown, so `find_own` looks for it.
- Write credentials, separate from the feed's: an app's id and secret (`client_id_env`,
  `client_secret_env`; they may name the feed's variables), and the brand account either by
  its login through a "script" app of which it is a developer (`username_env`,
  `password_env`: the password grant, all scopes) or by a refresh token of any app
  (`refresh_token_env`) granted the scopes `submit read identity` (submit: to comment; read:
  to read the thread for an earlier reply; identity: the account's name, GET /api/v1/me).
  Tokens come from the feed's `token_url`, are kept per account in `self.logins` for their
  `expires_in`, and are dropped when Reddit refuses one (the next attempt logs in again).
- Length: 10,000 characters of Markdown source (Reddit's TOO_LONG), counted after escaping.
- Plain text: `text` is Markdown to Reddit, so every character its renderer (snudown) can
  treat as markup, \\`*_{}[]()#+-.!:|&<>/^~, is backslash-escaped (new Reddit's CommonMark
  honours the same escapes); a line break becomes a hard break ("  \\n"), leading blanks
  become no-break spaces (no code block), and a line opening with "=" starts with `&#61;`
  (no heading). Bare http(s) URLs are left as typed so Reddit links them to themselves:
  nothing is hidden behind a label. u/name and r/name stay text, not links.
- Duplicates: Reddit takes no idempotency key. `find_own` reads the thread under the
  mention (GET /comments/{article}, newest first, two levels) for a comment by the brand's
  account answering the mention with this text, at or after `since`.
- The comment's fullname (t1_...) is its external id, as the feed's connector stores it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import model_validator

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorError
from connectors.replies.base import (
    MAX_QUOTE,
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
    same_words,
    send,
)

# the read connector's own parsing, so a reply's id, time and URL are what a poll gives
from connectors.sources.reddit import (
    TOKEN_MARGIN,
    TOKEN_URL,
    _author,
    _body,
    _created,
    _url,
    walk_tree,
)

SOURCE = "Reddit"
MAX_CHARACTERS = 10_000
# Reddit's times are whole seconds and our clock is not Reddit's: a reply this much older
# than `since` is still the attempt's (the same text by the brand on the same mention)
CLOCK_SLACK = timedelta(seconds=60)
_ESCAPABLE = frozenset("\\`*_{}[]()#+-.!:|&<>/^~")  # snudown's char_escape set
# a bare link Reddit turns into a link to itself; characters that could start markup in
# either renderer end it, and so does sentence punctuation at its end (see _url_end)
_BARE_URL = re.compile(r"https?://[^\s<>\[\](){}`*^~|\\\"]+")
_URL_TAIL = ".,:;!?'"
_NBSP = "\u00a0"
_RETRY_IN = re.compile(r"(\d+)\s*(millisecond|second|minute|hour)", re.IGNORECASE)
_UNIT_SECONDS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600}
_ARTICLE_IN_PATH = re.compile(r"/comments/([a-z0-9]+)")
_GONE = {"DELETED_COMMENT", "DELETED_LINK", "DELETED_THING"}
_RATE = {"RATELIMIT", "SUBREDDIT_RATELIMIT"}


class RedditReplyOptions(ReplyOptions):
    client_id_env: str
    """env var holding the client id of the app that posts (may name the feed's)"""
    client_secret_env: str
    """env var holding that app's secret"""
    username_env: str | None = None
    """env var holding the brand account's username (a script app's password grant)"""
    password_env: str | None = None
    """env var holding the brand account's password"""
    refresh_token_env: str | None = None
    """env var holding a refresh token of the brand account (scopes `submit read identity`)"""

    @model_validator(mode="after")
    def _one_login(self) -> RedditReplyOptions:
        login = self.username_env is not None or self.password_env is not None
        if login and (self.username_env is None or self.password_env is None):
            raise ValueError("give both `username_env` and `password_env`")
        if login == (self.refresh_token_env is not None):
            raise ValueError(
                "give the brand account's login (`username_env` and `password_env`) or a "
                "`refresh_token_env`, not both"
            )
        return self


def escape_markdown(text: str) -> str:
    """`text` as Reddit Markdown that renders as typed (see the module docstring)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for number, line in enumerate(lines):
        escaped = _escape_line(line)
        if number:
            # a blank line stays a paragraph break; any other line break is a hard break
            out.append("\n" if not escaped or not out[-1] else "  \n")
        out.append(escaped)
    return "".join(out).strip("\n")


def _escape_line(line: str) -> str:
    line = line.rstrip()
    body = line.lstrip(" \t")
    # indentation would make a code block: no-break spaces look the same and are not
    indent = "".join(_NBSP * 4 if c == "\t" else _NBSP for c in line[: len(line) - len(body)])
    parts: list[str] = []
    at = 0
    for match in _BARE_URL.finditer(body):
        end = _url_end(match.group())
        parts.append(_escape_chars(body[at : match.start()]))
        parts.append(match.group()[:end])
        at = match.start() + end
    parts.append(_escape_chars(body[at:]))
    escaped = "".join(parts)
    if not indent and escaped.startswith("="):
        escaped = "&#61;" + escaped[1:]  # "=" has no escape; a line of them is a heading
    return indent + escaped


def _url_end(url: str) -> int:
    end = len(url)
    while end > 0 and url[end - 1] in _URL_TAIL:
        end -= 1
    return end


def _escape_chars(text: str) -> str:
    return "".join("\\" + c if c in _ESCAPABLE else c for c in text)


class RedditReplier(Replier[RedditReplyOptions]):
    platform = "reddit"
    max_length = MAX_CHARACTERS
    write_scopes = "submit read identity (a script app's password grant has them all)"

    def length(self, text: str) -> int:
        return len(escape_markdown(text))

    # -- auth -----------------------------------------------------------------------------

    def _token_url(self) -> str:
        return str(getattr(self.feed_options, "token_url", None) or TOKEN_URL)

    def _headers(self, token: str) -> dict[str, str]:
        headers = {"Authorization": f"bearer {token}"}
        agent = getattr(self.feed_options, "user_agent", None)
        if agent:
            headers["User-Agent"] = str(agent)
        return headers

    def _env(self, name: str | None, what: str, *, verbatim: bool = False) -> str:
        try:
            return require_env(name, what, verbatim=verbatim)
        except AuthError as exc:
            raise ReplyRefused(f"{exc}: nothing was posted", kind="auth") from exc

    def _account(self) -> tuple[str, str, str, str]:
        """Whose token: keys name the app and the account, never a secret."""
        options: RedditReplyOptions = self.options
        client_id = self._env(options.client_id_env, "the client id of the reddit app")
        if options.refresh_token_env:
            who = f"refresh:{options.refresh_token_env}"
        else:
            who = self._env(options.username_env, "the brand account's reddit username").lower()
        return ("reddit-write", self._token_url(), client_id, who)

    def _token(self, client: httpx.Client) -> str:
        now = datetime.now(UTC)
        return self.logins.token(self._account(), now, lambda: self._login(client, now))

    def _login(self, client: httpx.Client, now: datetime) -> tuple[str, datetime]:
        """A new access token; any failure here is before the reply: nothing was posted."""
        options: RedditReplyOptions = self.options
        client_id = self._env(options.client_id_env, "the client id of the reddit app")
        secret = self._env(options.client_secret_env, "the secret of the reddit app")
        if options.refresh_token_env:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._env(options.refresh_token_env, "a reddit refresh token"),
            }
            fix = f"{options.refresh_token_env} (revoked? grant a new one)"
        else:
            form = {
                "grant_type": "password",
                "username": self._env(options.username_env, "the brand account's username"),
                "password": self._env(
                    options.password_env, "the brand account's password", verbatim=True
                ),
            }
            fix = (
                f"{options.username_env} and {options.password_env}, and that the account is"
                " a developer of the script app"
            )
        agent = getattr(self.feed_options, "user_agent", None)
        try:
            response = client.post(
                self._token_url(),
                data=form,
                auth=(client_id, secret),
                headers={"User-Agent": str(agent)} if agent else None,
            )
        except httpx.HTTPError as exc:
            raise ReplyRefused(
                f"could not get a Reddit token ({exc.__class__.__name__}): nothing was posted;"
                " try again in a minute",
                kind="unreachable",
            ) from exc
        if response.status_code in (401, 403):
            raise ReplyRefused(
                f"Reddit refused the app credentials ({response.status_code}): nothing was"
                f" posted; check {options.client_id_env} and {options.client_secret_env}",
                kind="auth",
            )
        if response.status_code == 429:
            raise ReplyRefused(
                "Reddit is rate limiting the token endpoint (429): nothing was posted;"
                " try again later",
                kind="rate_limited",
            )
        if response.status_code >= 300:
            raise ReplyRefused(
                f"Reddit's token endpoint failed ({response.status_code}): nothing was posted;"
                " try again in a minute",
                kind="unreachable",
            )
        found = _object(response.content)
        if found is None or found.get("error"):
            error = (found or {}).get("error", "no JSON")
            raise ReplyRefused(
                f"Reddit refused the login ({error}): nothing was posted; check {fix}",
                kind="auth",
            )
        token, expires_in = found.get("access_token"), found.get("expires_in")
        if not isinstance(token, str) or not token:
            raise ReplyRefused("Reddit's token answer has no access_token", kind="auth")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        return token, now + timedelta(seconds=lifetime) - TOKEN_MARGIN

    # -- posting --------------------------------------------------------------------------

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        thing = target.external_id
        if not re.fullmatch(r"t[13]_[a-z0-9]+", thing):
            raise ReplyRefused(
                f"{thing} is not a Reddit post or comment: nothing was posted", kind="invalid"
            )
        token = self._token(client)
        try:
            _response, body = send(
                client,
                "POST",
                f"{self.base_url}/api/comment",
                source=SOURCE,
                refusal=_refusal,
                headers=self._headers(token),
                params={"raw_json": "1"},
                data={"api_type": "json", "thing_id": thing, "text": escape_markdown(text)},
            )
        except ReplyRefused as refused:
            if refused.kind == "auth":
                self.logins.forget(self._account(), token)  # revoked: log in afresh next time
            raise
        return self._created(body, target)

    def _created(self, body: bytes, target: ReplyTarget) -> PostedReply:
        found = _object(body)
        if found is None:
            raise ReplyUnknown("Reddit's answer could not be read: the reply may have been posted")
        answer = _dict(found.get("json"))
        _raise_errors(answer.get("errors"))
        things = _dict(answer.get("data")).get("things")
        for thing in things if isinstance(things, list) else []:
            if isinstance(thing, dict) and thing.get("kind") == "t1" and _dict(thing.get("data")):
                return _posted(thing["data"], target)
        raise ReplyUnknown(
            "Reddit took the reply but did not show it (as it does in a quarantined"
            " subreddit): it was probably posted; check the post on Reddit"
        )

    # -- looking for an earlier reply ------------------------------------------------------

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        try:
            return self._find_own(client, target, text, since)
        except ReplyRefused as refused:
            raise ReplyUnknown(f"could not read the thread on Reddit: {refused.message}") from None

    def _find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        article = _article(target)
        if article is None:
            raise ReplyUnknown(f"{target.external_id}: no Reddit thread to look in")
        headers = self._headers(self._token(client))
        me = self._me(client, headers).lower()
        params = {"raw_json": "1", "sort": "new", "limit": "100", "depth": "1"}
        if target.external_id.startswith("t1_"):
            params.update(comment=target.external_id[3:], context="0", depth="2")
        _r, body = send(
            client,
            "GET",
            f"{self.base_url}/comments/{article}",
            source=SOURCE,
            headers=headers,
            params=params,
        )
        found = _json(body)
        listing = found[1] if isinstance(found, list) and len(found) > 1 else None
        data = listing.get("data") if isinstance(listing, dict) else None
        children = data.get("children") if isinstance(data, dict) else None
        if not isinstance(children, list):
            raise ReplyUnknown("Reddit's thread answer is not the documented Listing pair")
        sent = escape_markdown(text)
        for data in walk_tree(children).comments:
            if data.get("parent_id") != target.external_id:
                continue
            if str(_author(data) or "").lower() != me:
                continue
            source, shown = str(data.get("body") or ""), _body(data, "body_html", "body")
            if not (same_words(source, sent) or same_words(shown, text)):
                continue
            try:
                created = _created(data)
            except ValueError:
                continue
            if created >= since - CLOCK_SLACK:
                return _posted(data, target)
        return None

    def _me(self, client: httpx.Client, headers: dict[str, str]) -> str:
        """The brand account's name: the login's, or Reddit's answer for a refresh token."""
        options: RedditReplyOptions = self.options
        if options.username_env:
            return self._env(options.username_env, "the brand account's reddit username")
        _r, body = send(client, "GET", f"{self.base_url}/api/v1/me", source=SOURCE, headers=headers)
        found = _object(body)
        name = found.get("name") if found else None
        if not isinstance(name, str) or not name:
            raise ReplyUnknown("Reddit did not say which account the token is (scope identity)")
        return name


def _article(target: ReplyTarget) -> str | None:
    """The base36 id of the post the mention belongs to."""
    for candidate in (target.external_id, target.thread_id):
        if candidate and candidate.startswith("t3_"):
            return candidate[3:]
    match = _ARTICLE_IN_PATH.search(target.url or "")
    return match.group(1) if match else None


def _posted(data: dict[str, Any], target: ReplyTarget) -> PostedReply:
    try:
        external_id = str(data["name"])
        created = _created(data)
    except (KeyError, ValueError) as exc:
        raise ReplyUnknown("Reddit's answer lacks the comment's name or time") from exc
    return PostedReply(
        external_id=external_id,
        created_at=created,
        url=_url(data) or _url_under(target, str(data.get("id") or external_id[3:])),
        author=_author(data),
        author_id=data.get("author_fullname"),
        text=_body(data, "body_html", "body"),
    )


def _url_under(target: ReplyTarget, comment_id: str) -> str | None:
    """The reply's page when Reddit's answer has no permalink (older answers have none)."""
    if not target.url or "/comments/" not in target.url:
        return None
    base = target.url.split("?")[0].rstrip("/")
    if target.external_id.startswith("t1_"):
        base = base.rsplit("/", 1)[0]  # the mention's own page is one level down
    return f"{base}/{comment_id}/"


def _raise_errors(errors: Any) -> None:
    """Reddit's [[CODE, words, field], ...] as the refusal it means."""
    if not isinstance(errors, list) or not errors:
        return
    first = errors[0] if isinstance(errors[0], list) and errors[0] else [errors[0]]
    code = str(first[0])
    words = str(first[1]) if len(first) > 1 and first[1] else ""
    said = _cut(f"{code}: {words}" if words else code)
    if code in _RATE:
        match = _RETRY_IN.search(words)
        wait = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()] if match else None
        hint = f" (wait {int(wait)} s)" if wait else ""
        raise ReplyRefused(
            f"Reddit is rate limiting the brand's account ({said}): nothing was posted;"
            f" try again later{hint}",
            kind="rate_limited",
            retry_after=float(wait) if wait is not None else None,
        )
    if code in _GONE:
        raise ReplyRefused(f"Reddit no longer has this post ({said})", kind="gone")
    if code == "USER_REQUIRED":
        raise ReplyRefused(
            f"Reddit refused the write credentials ({said}): nothing was posted; ask whoever"
            " runs the monitor to check the feed's reply login and its scopes",
            kind="auth",
        )
    raise ReplyRefused(f"Reddit refused the reply ({said}): nothing was posted", kind="invalid")


def _refusal(response: httpx.Response, body: bytes) -> str | None:
    """A failed status's body: Reddit's error list decides the kind when there is one; else
    its words. A bare 403 is also what a locked thread or a banned account gets."""
    found = _object(body) or {}
    answer = found.get("json")
    if isinstance(answer, dict):
        _raise_errors(answer.get("errors"))
    words = next(
        (str(found[k]) for k in ("explanation", "message", "reason") if found.get(k)), None
    )
    if response.status_code == 403:
        return (
            f"{words or 'Forbidden'}; or the thread is locked or archived, or the account is"
            " banned from the subreddit"
        )
    return words


def _json(body: bytes) -> Any:
    try:
        return decode_json(body, SOURCE)
    except ConnectorError as exc:
        raise ReplyUnknown(f"Reddit's answer could not be read ({exc})") from exc


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None
    return found if isinstance(found, dict) else None


def _cut(words: str) -> str:
    flat = " ".join(words.split())
    return flat if len(flat) <= MAX_QUOTE else flat[: MAX_QUOTE - 1] + "…"
