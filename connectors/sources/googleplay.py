"""Google Play reviews of one app, with the developer's replies, from the Android Publisher API.

- Polls: GET https://androidpublisher.googleapis.com/androidpublisher/v3/applications/
  {packageName}/reviews?maxResults=100[&translationLanguage=xx], following
  `tokenPagination.nextPageToken` (bounded by `pages`; a repeated token stops).
- Auth: OAuth bearer token, scope https://www.googleapis.com/auth/androidpublisher, from a
  service-account JSON key whose path is in the env var named by `credentials_path_env`. The
  token request goes through google-auth (`pip install google-auth`) over our own httpx client
  (connectors.googleauth). The service account must be invited in Play Console > Users and
  permissions with "Reply to reviews". `access_token_env` instead names an env var holding a
  ready bearer token (tests, or a proxy that mints tokens itself).
- Rate limit: quota per Cloud project (the "Reply to Reviews" bucket); quota exhaustion is a
  429 (RESOURCE_EXHAUSTED), honoured with its Retry-After.
- Cursor: the newest `userComment.lastModified` seen (UTC ISO, microseconds). Every poll reads
  the whole (week-long, bounded) list so replies to older reviews are still found; reviews
  modified before the cursor are not returned again.
- Brand reply: `comments[].developerComment` is the developer's public reply. Google gives only
  its `lastModified`, so it is a `seen_modified_only` BrandReply, id "{reviewId}:reply"
  (no time at all: the fetch time). A `userComment.lastModified` later than the reply marks
  the review `edited_after_reply`. Never assume the reply is later: Google's own docs example
  has a user comment from 1974 and a reply from 2015.
- Quirks: the API lists only reviews created or modified in the last 7 days, and only those
  with text (ratings alone are invisible): a feed polled less often than daily risks losing
  reviews for good (`config_warnings`). The review has only a last-modified time, so
  `created_is_modified=True`. With `translation_language`, `text` is translated and the
  original goes to `extra.original_text` (`extra.reviewer_language` keeps its language).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field

from connectors.apijson import decode_json_object
from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorUnavailable, MalformedResponse
from connectors.http import fetch
from connectors.text import clean_text

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
PAGE_SIZE = 100
# The API keeps a review in the list for 7 days after its last change; polling at most daily
# leaves room for a few failed polls before anything falls out of that window.
MAX_SAFE_INTERVAL = 86400.0


class GooglePlayOptions(ConnectorOptions):
    package_name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
    """the app's package name, e.g. com.acme.app"""
    credentials_path_env: str = "GOOGLE_PLAY_CREDENTIALS"
    """env var holding the path of the service account JSON key"""
    access_token_env: str | None = None
    """env var holding a ready bearer token instead of the service account"""
    translation_language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}([-_]\w+)?$")
    """Google translates review texts to this language; originals kept"""
    pages: int = Field(default=20, ge=1, le=100)
    """pages of 100 reviews per poll (bounded)"""


def _timestamp(node: Any, what: str) -> datetime | None:
    """{seconds: "1443676826", nanos: 713000000} -> aware UTC datetime; absent -> None."""
    if node is None:
        return None
    try:
        seconds = int(node["seconds"])
        nanos = int(node.get("nanos") or 0)
    except (TypeError, KeyError, ValueError) as exc:
        raise MalformedResponse(f"{what} is not a {{seconds, nanos}} timestamp: {node!r}") from exc
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=nanos // 1000)


def _language(code: Any) -> str | None:
    return str(code).replace("_", "-") if code else None


class GooglePlayConnector(Connector[GooglePlayOptions]):
    """Reviews and developer replies of one Android app on Google Play."""

    name = "googleplay"
    platform = "googleplay"
    default_interval = 3600
    default_base_url = "https://androidpublisher.googleapis.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._service_account: Any = None  # connectors.googleauth.ServiceAccountToken

    @classmethod
    def config_warnings(cls, options: ConnectorOptions, interval: float) -> list[str]:
        """What check-config should say about this feed's settings (not errors)."""
        if interval > MAX_SAFE_INTERVAL:
            return [
                f"interval of {interval / 3600:g}h is longer than a day: Google Play lists only "
                "reviews changed in the last 7 days, so missed polls lose reviews for good; "
                "poll at least daily"
            ]
        return []

    def bearer_token(self, client: httpx.Client) -> str:
        options = self.options
        if options.access_token_env:
            return require_env(
                options.access_token_env,
                "a Google OAuth access token with the androidpublisher scope",
            )
        if self._service_account is None:
            env = options.credentials_path_env
            value = require_env(
                env,
                "the path of the Google Cloud service-account JSON key (the account needs "
                "'Reply to reviews' in Play Console > Users and permissions)",
            )
            path = Path(value)
            if not path.is_absolute():
                path = self.config_dir / path
            try:
                from connectors.googleauth import ServiceAccountToken
            except ImportError as exc:
                raise ConnectorUnavailable(
                    "the googleplay feed type needs google-auth: pip install google-auth"
                ) from exc
            self._service_account = ServiceAccountToken(path, SCOPE, env_name=env)
        return str(self._service_account.token(client))

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        try:
            saved = datetime.fromisoformat(state.cursor) if state.cursor else None
        except ValueError:
            saved = None  # an unreadable cursor reads the whole (one-week) list once
        headers = {"Authorization": f"Bearer {self.bearer_token(client)}"}
        url = f"{self.base_url}/androidpublisher/v3/applications/{options.package_name}/reviews"
        params = {"maxResults": str(PAGE_SIZE)}
        if options.translation_language:
            params["translationLanguage"] = options.translation_language
        mentions: dict[str, MentionRecord] = {}
        replies: dict[str, BrandReply] = {}
        newest = saved
        received = 0
        tokens: set[str] = set()
        for page in range(options.pages):
            try:
                response, body = fetch(client, url, params=params, headers=headers)
            except AuthError as exc:
                self._service_account = None
                if options.access_token_env:
                    raise AuthError(
                        f"Google Play refused the token in {options.access_token_env} ({exc}): "
                        "it must be a current OAuth token with the androidpublisher scope"
                    ) from exc
                raise AuthError(
                    f"Google Play refused the reviews request ({exc}): invite the service "
                    "account in Play Console > Users and permissions with 'Reply to reviews' "
                    f"for {options.package_name}, and enable the Google Play Android Developer "
                    "API in its Cloud project"
                ) from exc
            if response.status_code == 304:
                if page == 0:
                    return PollResult(state=state, not_modified=True)
                break
            received += len(body)
            doc = decode_json_object(body, "Google Play reviews")
            reviews = doc.get("reviews") or []
            if not isinstance(reviews, list):
                raise MalformedResponse("`reviews` is not a list")
            for review in reviews:
                mention, reply = self._parse_review(review, now)
                if reply:
                    replies[reply.external_id] = reply
                if mention is None:
                    continue
                newest = max(newest or mention.created_at, mention.created_at)
                if saved is None or mention.created_at >= saved:
                    mentions[mention.external_id] = mention
            token = (doc.get("tokenPagination") or {}).get("nextPageToken")
            if not token or token in tokens or not reviews:
                break
            tokens.add(token)
            params = {**params, "token": str(token)}
        return PollResult(
            mentions=list(mentions.values()),
            brand_replies=list(replies.values()),
            state=FeedCursor(
                cursor=newest.isoformat(timespec="microseconds") if newest else state.cursor
            ),
            bytes_received=received,
        )

    def _parse_review(
        self, review: Any, now: datetime
    ) -> tuple[MentionRecord | None, BrandReply | None]:
        if not isinstance(review, dict) or not review.get("reviewId"):
            raise MalformedResponse("a review has no reviewId")
        review_id = str(review["reviewId"])
        comments = review.get("comments") or []
        if not isinstance(comments, list):
            raise MalformedResponse(f"review {review_id}: `comments` is not a list")
        users = [c["userComment"] for c in comments if isinstance(c, dict) and "userComment" in c]
        developers = [
            c["developerComment"]
            for c in comments
            if isinstance(c, dict) and "developerComment" in c
        ]
        reply = self._reply(review_id, developers[-1], now) if developers else None
        if not users:
            return None, reply
        # More than one user comment would be history: the latest is the review as shown.
        timed = [(_timestamp(u.get("lastModified"), "userComment.lastModified"), u) for u in users]
        modified, user = max(timed, key=lambda pair: pair[0] or datetime.min.replace(tzinfo=UTC))
        author = str(review.get("authorName") or "").strip() or None
        if self.brand_identity(author, None):
            return None, reply
        rating = user.get("starRating")
        extra: dict[str, Any] = {}
        language = _language(user.get("reviewerLanguage"))
        if user.get("originalText"):
            extra["original_text"] = clean_text(str(user["originalText"]))
            extra["reviewer_language"] = language
            language = _language(self.options.translation_language)
        for key, name in (("appVersionName", "app_version"), ("device", "device")):
            if user.get(key):
                extra[name] = user[key]
        if modified is None:
            extra["no_date"] = True
        reply_time = (
            _timestamp(developers[-1].get("lastModified"), "developerComment.lastModified")
            if developers
            else None
        )
        mention = MentionRecord(
            platform=self.platform,
            external_id=review_id,
            created_at=modified or now,
            text=clean_text(str(user.get("text") or "")),
            url=(
                "https://play.google.com/store/apps/details"
                f"?id={self.options.package_name}&reviewId={review_id}"
            ),
            author=author,
            language=language,
            rating=float(rating) if isinstance(rating, int | float) else None,
            created_is_modified=True,
            edited_after_reply=bool(modified and reply_time and modified > reply_time),
            extra=extra,
        )
        return mention, reply

    def _reply(self, review_id: str, comment: Any, now: datetime) -> BrandReply:
        if not isinstance(comment, dict):
            raise MalformedResponse(f"review {review_id}: developerComment is not an object")
        modified = _timestamp(comment.get("lastModified"), "developerComment.lastModified")
        identity = self.identities[0] if self.identities else None
        return BrandReply(
            platform=self.platform,
            external_id=f"{review_id}:reply",
            in_reply_to=review_id,
            created_at=modified or now,  # no time given: when we saw it is the only bound
            author=identity.handle if identity else None,
            author_id=identity.account_id if identity else None,
            url=(
                "https://play.google.com/store/apps/details"
                f"?id={self.options.package_name}&reviewId={review_id}"
            ),
            text=clean_text(str(comment.get("text") or "")) or None,
            bot=identity.bot if identity else False,
            seen_modified_only=True,
        )
