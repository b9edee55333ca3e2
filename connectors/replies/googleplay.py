"""Google Play: the developer's public reply to a review, set with reviews.reply.

- POST /androidpublisher/v3/applications/{packageName}/reviews/{reviewId}:reply
  (https://developers.google.com/android-publisher/api-ref/rest/v3/reviews/reply) with
  `{"replyText": ...}`. The answer's `result.lastEdited` ({seconds, nanos}, "the time at which
  the reply took effect") is the reply's time.
- Write credentials: a service-account JSON key whose path is in the env var named by
  `credentials_path_env` (scope https://www.googleapis.com/auth/androidpublisher, the only
  scope the API has), the account invited in Play Console > Users and permissions with the
  "Reply to reviews" permission for the app; or a ready bearer token in `access_token_env`.
  Keep them apart from the feed's read key: a key that can only view reviews cannot answer.
- Length: Google rejects "replies of more than approximately 350 characters"; the modal checks
  350 code points. Google strips HTML tags, so a text with something that looks like a tag is
  refused before posting: what is posted is what the agent typed (the reply is plain text).
- One reply per review: the call "replies to a single review, or updates an existing reply".
  An existing developer reply is REPLACED (`replaces_existing`: the modal warns), and a
  request whose answer was lost may be sent again as it was (`takes_key`): it cannot make a
  second reply.
- Looking for our own reply: GET .../reviews/{reviewId} (reviews.get), the developerComment
  with this text and a lastModified at or after `since`.
- Ids: the reply is "{reviewId}:reply" at the reply's lastModified, as the feed's connector
  reads the developerComment of a review.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, cast

import httpx
from pydantic import model_validator

from connectors.env import require_env
from connectors.errors import ConnectorUnavailable, MalformedResponse
from connectors.replies._review_sites import before_posting, google_request, html_tag_problem
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
)
from connectors.sources.googleplay import SCOPE, GooglePlayOptions, _timestamp
from connectors.text import clean_text

SOURCE = "Google Play"


class GooglePlayReplyOptions(ReplyOptions):
    credentials_path_env: str | None = None
    """env var holding the path of a service-account JSON key with "Reply to reviews" on the app"""
    access_token_env: str | None = None
    """env var holding a ready bearer token (scope androidpublisher) instead of the key"""

    @model_validator(mode="after")
    def _one_credential(self) -> GooglePlayReplyOptions:
        if bool(self.credentials_path_env) == bool(self.access_token_env):
            raise ValueError("set one of credentials_path_env and access_token_env")
        return self


class GooglePlayReplier(Replier[GooglePlayReplyOptions]):
    platform = "googleplay"
    max_length = 350
    takes_key = True
    # the reply replaces the developer's existing reply to the review, if there is one
    replaces_existing: ClassVar[bool] = True
    write_scopes = (
        "OAuth scope https://www.googleapis.com/auth/androidpublisher; the service account "
        "needs 'Reply to reviews' for the app in Play Console > Users and permissions"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._service_account: Any = None  # connectors.googleauth.ServiceAccountToken

    def missing(self) -> str | None:
        options: GooglePlayReplyOptions = self.options
        if options.credentials_path_env:
            try:
                import google.auth  # noqa: F401
            except ImportError:
                return "google-auth is not installed (pip install google-auth)"
        return super().missing()

    def check(self, text: str) -> str | None:
        return super().check(text) or html_tag_problem(text, "Google Play removes HTML tags")

    def _package(self) -> str:
        return cast(GooglePlayOptions, self.feed_options).package_name

    def _review_url(self, review_id: str) -> str:
        return (
            f"{self.base_url}/androidpublisher/v3/applications/{self._package()}"
            f"/reviews/{review_id}"
        )

    def _headers(self, client: httpx.Client) -> dict[str, str]:
        options: GooglePlayReplyOptions = self.options
        with before_posting(SOURCE):
            if options.access_token_env:
                token = require_env(
                    options.access_token_env, "a Google OAuth token with the androidpublisher scope"
                )
                return {"Authorization": f"Bearer {token}"}
            if self._service_account is None:
                env = options.credentials_path_env
                path = Path(require_env(env, "the path of the service-account JSON key"))
                if not path.is_absolute():  # as the feed reads it: next to the config file
                    path = self.config_dir / path
                try:
                    from connectors.googleauth import ServiceAccountToken
                except ImportError as exc:
                    raise ConnectorUnavailable("pip install google-auth") from exc
                self._service_account = ServiceAccountToken(
                    path.resolve(), SCOPE, env_name=str(env)
                )
            return {"Authorization": f"Bearer {self._service_account.token(client)}"}

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        try:
            answer = google_request(
                client,
                "POST",
                f"{self._review_url(target.external_id)}:reply",
                source=SOURCE,
                what="the reply",
                headers=self._headers(client),
                json={"replyText": text},
            )
        except ReplyRefused as refused:
            if refused.kind == "auth":
                self._service_account = None  # a revoked key: the next attempt asks again
            raise
        result = answer.get("result")
        if not isinstance(result, dict):
            raise ReplyUnknown("Google Play's answer has no `result`: the reply may have been set")
        return self._posted(target, result.get("replyText"), result.get("lastEdited"))

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        review = google_request(
            client,
            "GET",
            self._review_url(target.external_id),
            source=SOURCE,
            what="reviews.get",
            headers=self._headers(client),
        )
        comments = review.get("comments")
        for comment in comments if isinstance(comments, list) else []:
            developer = comment.get("developerComment") if isinstance(comment, dict) else None
            if not isinstance(developer, dict):
                continue
            if clean_text(str(developer.get("text") or "")) != clean_text(text):
                continue
            posted = self._posted(target, developer.get("text"), developer.get("lastModified"))
            if posted.created_at >= since:
                return posted
        return None

    def _posted(self, target: ReplyTarget, text: Any, when: Any) -> PostedReply:
        try:
            created = _timestamp(when, "lastEdited")
        except MalformedResponse as exc:
            raise ReplyUnknown(f"Google Play's answer has no readable reply time ({exc})") from exc
        if created is None:
            raise ReplyUnknown("Google Play's answer lacks the reply's time")
        return PostedReply(
            external_id=f"{target.external_id}:reply",
            created_at=created,
            url=target.url,
            text=clean_text(str(text or "")) or None,
        )
