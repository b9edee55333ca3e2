"""Google Business Profile (Google Maps) reviews of one location, with the owner's replies.

- Polls: `GET /v4/accounts/{account}/locations/{location}/reviews?orderBy=updateTime desc
  &pageSize=50&pageToken=...` (https://developers.google.com/my-business/reference/rest/v4/
  accounts.locations.reviews/list), most recently updated first.
- Auth: OAuth 2.0 with the `https://www.googleapis.com/auth/business.manage` scope, for a
  Google account that manages the location. Either an access token in the env var named by
  `access_token_env`, or (for a service that runs for weeks) a refresh token: the env vars
  named by `client_id_env`, `client_secret_env`, `refresh_token_env` (an OAuth client of the
  Google Cloud project that has the My Business API enabled). The refresh uses google-auth
  (`pip install google-auth`), over this feed's HTTP client.
- Rate limit: the project's quota (per minute); Google answers 429 RESOURCE_EXHAUSTED, with
  Retry-After honoured when sent. One poll makes at most `max_pages` calls.
- Cursor: the newest review `updateTime` seen, ISO 8601. Each poll pages back to the older of
  the cursor and `now - reply_lookback` (the first run: `now - backfill`), at most `max_pages`
  pages. Reviews updated since the cursor are mentions; every review read is checked for a
  reply, so an answer written after the review is still found.
- Brand reply: `reviewReply {comment, updateTime}` is the owner's answer. Google gives only its
  last-modified time, so the BrandReply has `seen_modified_only=True`. A review whose
  `updateTime` is later than its reply's is `edited_after_reply`.
- Quirks: `starRating` is a word, ONE..FIVE (STAR_RATING_UNSPECIFIED: no rating). There is no
  language field and no public review URL. A translated review's comment reads
  "(Translated by Google) <translation>\\n\\n(Original)\\n<original>": the original is the text,
  the translation goes to `extra["translation"]`. A recorded payload has `"reviewReply": null`
  where the API omits the key; both mean "no reply". A reply without `updateTime` is recorded
  at the poll time (with a warning).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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
from connectors.errors import AuthError, ConnectorUnavailable, MalformedResponse, TransientError
from connectors.http import fetch
from connectors.reviews import ReviewRead
from connectors.text import html_to_text

PAGE_SIZE = 50  # the documented maximum for reviews.list
SCOPE = "https://www.googleapis.com/auth/business.manage"
STARS = {"ONE": 1.0, "TWO": 2.0, "THREE": 3.0, "FOUR": 4.0, "FIVE": 5.0}
TRANSLATED = "(Translated by Google)"
ORIGINAL = "\n\n(Original)\n"


class GoogleBusinessOptions(ConnectorOptions):
    account: str = Field(min_length=1)
    """the account id, `108494...` or `accounts/108494...`"""
    location: str = Field(min_length=1)
    """the location id, `6394...` or `locations/6394...`"""
    access_token_env: str = "GOOGLE_BUSINESS_ACCESS_TOKEN"
    """env var holding an OAuth access token"""
    client_id_env: str | None = None
    """refresh-token login: env var holding the OAuth client id"""
    client_secret_env: str | None = None
    """refresh-token login: env var holding the OAuth client secret"""
    refresh_token_env: str | None = None
    """refresh-token login: env var holding the refresh token"""
    token_uri: str = "https://oauth2.googleapis.com/token"
    """where refresh tokens are exchanged (a proxy or a test server)"""
    backfill: Duration = 30 * 86400
    """first run: how far back to read"""
    reply_lookback: Duration = 14 * 86400
    """each poll re-reads this window for replies written later"""
    max_pages: int = Field(default=10, ge=1, le=100)
    """pages of 50 reviews per poll, a hard bound"""

    @field_validator("account", "location")
    @classmethod
    def _bare_id(cls, value: str) -> str:
        # "accounts/123" and "locations/456" (resource names) are accepted as well as "123"
        return value.strip().rstrip("/").rsplit("/", 1)[-1]

    @model_validator(mode="after")
    def _refresh_flow_complete(self) -> GoogleBusinessOptions:
        names = (self.client_id_env, self.client_secret_env, self.refresh_token_env)
        if any(names) and not all(names):
            raise ValueError(
                "the refresh-token flow needs all of client_id_env, client_secret_env and "
                "refresh_token_env (or none of them, with access_token_env)"
            )
        return self


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (Google writes Z and 0-9 fraction digits) to aware UTC."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # fromisoformat takes at most 6 fraction digits; Google sends up to 9
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[: min(digits, 6)]}{tail[digits:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def split_translation(comment: str) -> tuple[str, str | None]:
    """(original, Google's translation or None) from a review comment."""
    if comment.startswith(TRANSLATED) and ORIGINAL in comment:
        translation, _, original = comment[len(TRANSLATED) :].partition(ORIGINAL)
        return original.strip(), translation.strip()
    return comment, None


class _HttpxAuthResponse:
    """google.auth.transport.Response over an httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.data = response.content


class _HttpxAuthRequest:
    """google.auth.transport.Request over the feed's own httpx client (mockable in tests)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _HttpxAuthResponse:
        from google.auth import exceptions

        try:
            response = self.client.request(
                method, url, content=body, headers=dict(headers or {}), timeout=timeout or 20.0
            )
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(f"token request failed: {exc!r}") from exc
        return _HttpxAuthResponse(response)


class GoogleBusinessConnector(Connector[GoogleBusinessOptions]):
    """Reviews of one Google Business Profile location."""

    name = "googlebusiness"
    platform = "googlebusiness"
    default_interval = 900
    default_base_url = "https://mybusiness.googleapis.com"

    _credentials: Any = None

    def _token(self, client: httpx.Client) -> str:
        options = self.options
        if not options.refresh_token_env:
            return require_env(
                options.access_token_env,
                f"an OAuth access token with the {SCOPE} scope, or configure the refresh-token "
                "flow (client_id_env, client_secret_env, refresh_token_env)",
            )
        return self._refreshed_token(client)

    def _refreshed_token(self, client: httpx.Client) -> str:
        options = self.options
        values = {}
        for env, what in (
            (options.client_id_env, "the OAuth client id"),
            (options.client_secret_env, "the OAuth client secret"),
            (options.refresh_token_env, "a refresh token of an account that manages the location"),
        ):
            assert env is not None  # the options validator requires all three
            values[env] = require_env(
                env, f"{what}: the refresh-token flow needs the client id, secret and token"
            )
        try:
            from google.auth import exceptions
            from google.oauth2.credentials import Credentials
        except ImportError as exc:
            raise ConnectorUnavailable(
                "the googlebusiness refresh-token flow needs google-auth: pip install google-auth"
            ) from exc
        if self._credentials is None:
            self._credentials = Credentials(
                token=None,
                refresh_token=values[options.refresh_token_env or ""],
                client_id=values[options.client_id_env or ""],
                client_secret=values[options.client_secret_env or ""],
                token_uri=options.token_uri,
                scopes=[SCOPE],
            )
        if not self._credentials.valid:
            try:
                self._credentials.refresh(_HttpxAuthRequest(client))
            except exceptions.RefreshError as exc:
                self._credentials = None
                reason = exc.args[0] if exc.args else exc
                raise AuthError(
                    f"Google refused to refresh the access token ({reason}); "
                    f"check {options.client_id_env}, {options.client_secret_env} and "
                    f"{options.refresh_token_env} (a revoked or expired refresh token needs "
                    "a new consent)"
                ) from exc
            except exceptions.TransportError as exc:
                raise TransientError(f"could not reach the Google token endpoint: {exc}") from exc
        return str(self._credentials.token)

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        headers = {"Authorization": f"Bearer {self._token(client)}"}
        saved = _cursor_time(state.cursor)
        if saved is None:
            boundary = now - timedelta(seconds=options.backfill)
        else:
            boundary = min(saved, now - timedelta(seconds=options.reply_lookback))
        url = f"{self.base_url}/v4/accounts/{options.account}/locations/{options.location}/reviews"
        result = PollResult(state=FeedCursor(cursor=state.cursor))
        seen: set[str] = set()
        newest = saved
        page_token = ""
        for _page in range(options.max_pages):
            params = {"orderBy": "updateTime desc", "pageSize": str(PAGE_SIZE)}
            if page_token:
                params["pageToken"] = page_token
            try:
                response, body = fetch(client, url, params=params, headers=headers)
            except AuthError as exc:
                self._credentials = None  # a revoked token: refresh again next time
                raise AuthError(self._rejected_message(str(exc))) from exc
            if response.status_code == 304:
                return PollResult(state=state, not_modified=True)
            result.bytes_received += len(body)
            data = _page_data(body)
            reached_boundary = False
            for review in data["reviews"]:
                read = self._review(review, saved, boundary, now, seen)
                result.warnings.extend(read.warnings)
                if read.new_id is not None:
                    seen.add(read.new_id)
                result.add(read.mention)
                result.add(read.reply)
                updated = read.order_time
                if updated is None:
                    continue
                newest = updated if newest is None else max(newest, updated)
                reached_boundary = reached_boundary or updated < boundary
            page_token = data["next"]
            if reached_boundary or not page_token:
                break
        else:
            result.warnings.append(
                f"stopped after {options.max_pages} pages (max_pages) before reaching "
                f"{boundary.isoformat()}; older reviews and replies were not read"
            )
        if newest is not None:
            result.state = FeedCursor(cursor=newest.isoformat())
        return result

    def _rejected_message(self, reason: str) -> str:
        options = self.options
        where = (
            f"the token from {options.refresh_token_env}"
            if options.refresh_token_env
            else f"the access token in {options.access_token_env}"
        )
        return (
            f"Google rejected {where} ({reason}); it must be a token with the {SCOPE} scope "
            "of an account that manages this location, and the Google My Business API must "
            "be enabled in its Cloud project (access tokens expire after about an hour: use "
            "the refresh-token flow for a long-running service)"
        )

    def _review(
        self,
        review: dict[str, Any],
        saved: datetime | None,
        boundary: datetime,
        now: datetime,
        seen: Collection[str],
    ) -> ReviewRead:
        """The review (if new or updated), its reply, and its updateTime."""
        review_id = str(review.get("reviewId") or str(review.get("name") or "").rsplit("/")[-1])
        try:
            created = parse_time(review.get("createTime"))
            updated = parse_time(review.get("updateTime")) or created
        except ValueError as exc:
            return ReviewRead(warnings=[f"review {review_id or '?'}: bad time: {exc}"])
        if not review_id or created is None or updated is None:
            return ReviewRead(
                warnings=[f"review {review_id or '?'} has no id or createTime; skipped"]
            )
        if review_id in seen:
            warning = f"review {review_id} appears twice; the first copy is kept"
            return ReviewRead(order_time=updated, warnings=[warning])
        if updated < boundary and (saved is None or updated < saved):
            return ReviewRead(order_time=updated)  # older than the window: the page that crosses it
        reply, warnings = self._reply(review, review_id, now)
        mention = None
        if saved is None or updated >= saved:
            mention = self._mention(review, review_id, created, updated, reply)
        return ReviewRead(review_id, updated, mention, reply, warnings)

    def _mention(
        self,
        review: dict[str, Any],
        review_id: str,
        created: datetime,
        updated: datetime,
        reply: BrandReply | None,
    ) -> MentionRecord:
        reviewer = review.get("reviewer") or {}
        text, translation = split_translation(html_to_text(review.get("comment")))
        extra: dict[str, Any] = {"name": review["name"]} if review.get("name") else {}
        if translation:
            extra["translation"] = translation
        if updated != created:
            extra["updated_at"] = updated.isoformat()
        anonymous = bool(reviewer.get("isAnonymous"))
        return MentionRecord(
            platform=self.platform,
            external_id=review_id,
            created_at=created,
            text=text,
            author=None if anonymous else (reviewer.get("displayName") or None),
            rating=STARS.get(str(review.get("starRating"))),
            edited_after_reply=_edited_after_reply(review, updated),
            extra=extra,
        )

    def _reply(
        self, review: dict[str, Any], review_id: str, now: datetime
    ) -> tuple[BrandReply | None, list[str]]:
        """The owner's reply to a review, if any, and what was wrong with its time."""
        reply = review.get("reviewReply")
        if not isinstance(reply, dict) or not reply:
            return None, []  # absent (the real API) or null (the recorded mock)
        warnings: list[str] = []
        try:
            when = parse_time(reply.get("updateTime"))
        except ValueError as exc:
            when = None
            warnings.append(f"review {review_id}: bad reviewReply time: {exc}")
        if when is None:
            when = now  # the reply exists; the poll time is the latest it can have been written
            warnings.append(
                f"review {review_id}: reviewReply has no updateTime; recorded at the poll time"
            )
        identity = self.identities[0] if self.identities else None
        return BrandReply(
            platform=self.platform,
            external_id=f"{review_id}:reply",
            in_reply_to=review_id,
            created_at=when,
            author=identity.handle if identity else None,
            author_id=identity.account_id if identity else None,
            text=html_to_text(reply.get("comment")) or None,
            bot=identity.bot if identity else False,
            seen_modified_only=True,
        ), warnings


def _edited_after_reply(review: dict[str, Any], updated: datetime) -> bool:
    """The review changed after the owner's reply last did (a reply with no time: unknown)."""
    reply = review.get("reviewReply")
    if not isinstance(reply, dict):
        return False
    try:
        replied = parse_time(reply.get("updateTime"))
    except ValueError:
        return False
    return replied is not None and updated > replied


def _cursor_time(cursor: str | None) -> datetime | None:
    try:
        return parse_time(cursor)
    except ValueError:
        return None


def _page_data(body: bytes) -> dict[str, Any]:
    try:
        data = loads(body)
    except ValueError as exc:
        raise MalformedResponse(f"Google answered with something that is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("reviews", []), list):
        raise MalformedResponse("Google answered without a `reviews` list")
    token = data.get("nextPageToken")
    return {
        "reviews": [r for r in data.get("reviews", []) if isinstance(r, dict)],
        "next": token if isinstance(token, str) else "",
    }
