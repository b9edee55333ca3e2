"""YouTube: the brand's reply is a reply in the comment thread of the mention.

- POST https://www.googleapis.com/youtube/v3/comments?part=snippet
  (https://developers.google.com/youtube/v3/docs/comments/insert) with
  {"snippet": {"parentId": <thread id>, "textOriginal": <text>}}. The feed's mentions are
  top-level comments, stored by their thread id (= the top-level comment's id), so the
  thread id is the parent; YouTube threads are one level deep, so a reply's id
  ("<thread>.<reply>") answers its thread. Videos are not mentions here, so no new
  top-level comment (commentThreads.insert) is ever written.
- Write credentials: OAuth 2.0 as the brand's channel (not the feed's API key): a client id
  and secret of a Google Cloud OAuth client (`client_id_env`, `client_secret_env`) and a
  refresh token granted the scope https://www.googleapis.com/auth/youtube.force-ssl by the
  Google account that owns or manages the channel (`refresh_token_env`). The access token
  is refreshed through google-auth over our own client (connectors/googleauth.py), kept in
  `self.logins` until it expires, and dropped when YouTube refuses it.
- Quota: 50 units a reply (of the project's 10,000 a day, shared with the feeds of the same
  project); quotaExceeded -> rate_limited until midnight Pacific time.
- Length: 10,000 characters (commentTextTooLong past it).
- Plain text: `textOriginal` is plain text, no HTML and no Markdown. YouTube itself shows
  *word* bold, _word_ italic and -word- struck through, and links bare URLs, on every
  comment; it has no escape for that, so those marks are sent as typed (a link shows its
  own address: nothing hides behind a label).
- Errors: the Google error envelope is read before the status (a 403 is a quota as often as
  a permission): quotaExceeded / rateLimitExceeded -> rate_limited, commentsDisabled,
  operationNotSupported (`canReply` is false), parentCommentIsPrivate -> invalid,
  forbidden / ineligibleAccount (a channel not merged with its Google account) -> auth,
  parentCommentNotFound / 404 -> gone, 5xx -> ReplyUnknown.
- Duplicates: no idempotency key. `find_own` lists the thread's replies (GET
  /comments?parentId=, newest first, one page of 100: 1 unit) for the brand channel's
  reply with this text at or after `since`; the channel is `channel_id`, or asked once
  (GET /channels?mine=true).
- The reply's id is its external id, as the feed's connector stores a brand reply.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorError
from connectors.http import parse_retry_after
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
    same_words,
    send,
)

# the read connector's own parsing, so a reply reads as a poll gives it
from connectors.sources.youtube import (
    _QUOTA_REASONS,
    _RATE_REASONS,
    DEFAULT_RATE_LIMIT_WAIT,
    _author,
    _comment_text,
    _parse_time,
    seconds_to_pacific_midnight,
)
from connectors.text import html_to_text

SOURCE = "YouTube"
SCOPE = "https://www.googleapis.com/auth/youtube.force-ssl"
TOKEN_URI = "https://oauth2.googleapis.com/token"
MAX_CHARACTERS = 10_000
# publishedAt is whole seconds and our clock is not Google's (see reddit.py)
CLOCK_SLACK = timedelta(seconds=60)
# a token is dropped this long before Google says it expires
TOKEN_MARGIN = timedelta(seconds=60)
_INVALID_REASONS = {"commentsDisabled", "operationNotSupported", "parentCommentIsPrivate"}


class YouTubeReplyOptions(ReplyOptions):
    client_id_env: str
    """env var holding the OAuth client id (Google Cloud console > Credentials)"""
    client_secret_env: str
    """env var holding that OAuth client's secret"""
    refresh_token_env: str
    """env var holding a refresh token of the brand channel's account (scope youtube.force-ssl)"""
    token_uri: str = TOKEN_URI
    """where access tokens are refreshed (a proxy or a test server)"""
    channel_id: str | None = None
    """the brand's channel (UC...); without it the token's channel is asked when needed"""


class YouTubeReplier(Replier[YouTubeReplyOptions]):
    platform = "youtube"
    max_length = MAX_CHARACTERS
    write_scopes = SCOPE
    _mine: str | None = None  # the token's channel, once asked

    def missing(self) -> str | None:
        try:
            import google.oauth2.credentials  # noqa: F401
        except ImportError:
            return "google-auth is not installed (pip install google-auth)"
        return super().missing()

    # -- auth -----------------------------------------------------------------------------

    def _env(self, name: str, what: str) -> str:
        try:
            return require_env(name, what)
        except AuthError as exc:
            raise ReplyRefused(f"{exc}: nothing was posted", kind="auth") from exc

    def _account(self) -> tuple[str, str, str, str]:
        """Whose token: keys name the client and the variable, never a secret."""
        options: YouTubeReplyOptions = self.options
        client_id = self._env(options.client_id_env, "the OAuth client id")
        return ("youtube-write", options.token_uri, client_id, options.refresh_token_env)

    def _token(self, client: httpx.Client) -> str:
        now = datetime.now(UTC)
        return self.logins.token(self._account(), now, lambda: self._refresh(client, now))

    def _refresh(self, client: httpx.Client, now: datetime) -> tuple[str, datetime]:
        """A new access token; a failure here is before the reply: nothing was posted."""
        options: YouTubeReplyOptions = self.options
        try:
            from google.auth import exceptions
            from google.oauth2.credentials import Credentials

            from connectors.googleauth import HttpxRequest
        except ImportError as exc:
            raise ReplyRefused(
                "replying on YouTube needs google-auth: pip install google-auth", kind="auth"
            ) from exc
        credentials = Credentials(
            token=None,
            refresh_token=self._env(options.refresh_token_env, "a YouTube refresh token"),
            client_id=self._env(options.client_id_env, "the OAuth client id"),
            client_secret=self._env(options.client_secret_env, "the OAuth client secret"),
            token_uri=options.token_uri,
            scopes=[SCOPE],
        )
        try:
            credentials.refresh(HttpxRequest(client))
        except exceptions.RefreshError as exc:
            reason = exc.args[0] if exc.args else exc
            if getattr(exc, "retryable", False):
                raise ReplyRefused(
                    f"Google's token endpoint failed ({reason}): nothing was posted; try again",
                    kind="unreachable",
                ) from exc
            raise ReplyRefused(
                f"Google refused to refresh the YouTube token ({reason}): nothing was posted;"
                f" check {options.client_id_env}, {options.client_secret_env} and"
                f" {options.refresh_token_env} (a revoked token needs a new consent)",
                kind="auth",
            ) from exc
        except exceptions.TransportError as exc:
            raise ReplyRefused(
                f"could not reach Google's token endpoint ({exc}): nothing was posted;"
                " try again in a minute",
                kind="unreachable",
            ) from exc
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        until = (
            expiry.replace(tzinfo=UTC) - TOKEN_MARGIN
            if isinstance(expiry, datetime)
            else now + timedelta(minutes=50)
        )
        return str(credentials.token), until

    # -- posting --------------------------------------------------------------------------

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        thread = target.external_id.split(".", 1)[0]
        token = self._token(client)
        try:
            _response, body = send(
                client,
                "POST",
                f"{self.base_url}/comments",
                source=SOURCE,
                refusal=_refusal,
                params={"part": "snippet"},
                headers={"Authorization": f"Bearer {token}"},
                json={"snippet": {"parentId": thread, "textOriginal": text}},
            )
        except ReplyRefused as refused:
            if refused.kind == "auth":
                self.logins.forget(self._account(), token)  # revoked: refresh next time
            raise
        found = _object(body)
        if found is None:
            raise ReplyUnknown("YouTube's answer could not be read: the reply may have been posted")
        return _posted(found, target)

    # -- looking for an earlier reply ------------------------------------------------------

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        try:
            return self._find_own(client, target, text, since)
        except ReplyRefused as refused:
            raise ReplyUnknown(f"could not read the thread on YouTube: {refused.message}") from None

    def _find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        headers = {"Authorization": f"Bearer {self._token(client)}"}
        channel = self._channel(client, headers)
        _r, body = send(
            client,
            "GET",
            f"{self.base_url}/comments",
            source=SOURCE,
            refusal=_refusal,
            headers=headers,
            params={
                "part": "snippet",
                "parentId": target.external_id.split(".", 1)[0],
                "maxResults": "100",
                "textFormat": "plainText",
            },
        )
        items = (_object(body) or {}).get("items")
        if not isinstance(items, list):
            raise ReplyUnknown("YouTube's comments answer is not the documented list")
        for comment in items:
            snippet = comment.get("snippet") if isinstance(comment, dict) else None
            if not isinstance(snippet, dict) or _author(snippet)[1] != channel:
                continue
            if not same_words(_comment_text(snippet), text):
                continue
            try:
                published = _parse_time(snippet.get("publishedAt"))
            except ValueError:
                continue
            if published >= since - CLOCK_SLACK:
                return _posted(comment, target)
        return None

    def _channel(self, client: httpx.Client, headers: dict[str, str]) -> str:
        options: YouTubeReplyOptions = self.options
        if options.channel_id:
            return options.channel_id
        if self._mine is not None:
            return self._mine
        _r, body = send(
            client,
            "GET",
            f"{self.base_url}/channels",
            source=SOURCE,
            refusal=_refusal,
            headers=headers,
            params={"part": "id", "mine": "true"},
        )
        items = (_object(body) or {}).get("items")
        first = items[0] if isinstance(items, list) and items else None
        if not isinstance(first, dict) or not first.get("id"):
            raise ReplyUnknown("YouTube did not say which channel the token is")
        self._mine = str(first["id"])
        return self._mine


def _posted(comment: dict[str, Any], target: ReplyTarget) -> PostedReply:
    snippet = comment.get("snippet")
    if not isinstance(snippet, dict) or not comment.get("id"):
        raise ReplyUnknown("YouTube's answer lacks the reply's id")
    try:
        published = _parse_time(snippet.get("publishedAt"))
    except ValueError as exc:
        raise ReplyUnknown("YouTube's answer lacks the reply's time") from exc
    reply_id = str(comment["id"])
    author, author_id = _author(snippet)
    return PostedReply(
        external_id=reply_id,
        created_at=published,
        url=_reply_url(target.url, reply_id),
        author=author,
        author_id=author_id,
        text=_comment_text(snippet),
    )


def _reply_url(mention_url: str | None, reply_id: str) -> str | None:
    """The watch page pointing at the reply (`lc=`), as the feed's connector builds it."""
    if not mention_url:
        return None
    video = parse_qs(urlsplit(mention_url).query).get("v")
    if video:
        return f"https://www.youtube.com/watch?v={video[0]}&lc={reply_id}"
    return mention_url  # a comment on the channel itself: the channel's page


def _refusal(response: httpx.Response, body: bytes) -> str | None:
    """Google's error envelope decides where the status misleads (a 403 quota); else its
    reasons and message are the words."""
    found = _object(body)
    error = found.get("error") if found else None
    if not isinstance(error, dict):
        return None
    reasons = {
        str(e.get("reason"))
        for e in error.get("errors") or []
        if isinstance(e, dict) and e.get("reason")
    }
    message = html_to_text(str(error.get("message") or ""))
    said = f"{'/'.join(sorted(reasons)) or error.get('status') or 'error'}: {message}"
    if reasons & _QUOTA_REASONS:
        raise ReplyRefused(
            f"YouTube's daily quota is used up ({said}): nothing was posted; it resets at"
            " midnight Pacific time",
            kind="rate_limited",
            retry_after=seconds_to_pacific_midnight(datetime.now(UTC)),
        )
    if reasons & _RATE_REASONS:
        wait = parse_retry_after(response.headers.get("Retry-After")) or DEFAULT_RATE_LIMIT_WAIT
        raise ReplyRefused(
            f"YouTube is rate limiting the brand's channel ({said}): nothing was posted;"
            f" try again later (wait {int(wait)} s)",
            kind="rate_limited",
            retry_after=wait,
        )
    if reasons & _INVALID_REASONS:
        raise ReplyRefused(
            f"YouTube refused the reply ({said}): nothing was posted", kind="invalid"
        )
    return said


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None
    return found if isinstance(found, dict) else None
