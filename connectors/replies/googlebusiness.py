"""Google Business Profile: the owner's public reply to a review, set with updateReply.

- PUT /v4/accounts/{account}/locations/{location}/reviews/{reviewId}/reply
  (https://developers.google.com/my-business/reference/rest/v4/accounts.locations.reviews/updateReply)
  with a ReviewReply `{"comment": ...}`; the answer is the ReviewReply, whose `updateTime`
  (RFC 3339) is the reply's time. "This operation is only valid if the specified location is
  verified": Google refuses it otherwise, and the agent reads Google's words.
- Write credentials: OAuth 2.0 with scope https://www.googleapis.com/auth/business.manage for
  a Google account that is an owner or manager of the location: a refresh token (env vars named
  by `client_id_env`, `client_secret_env`, `refresh_token_env`; exchanged at `token_uri` with
  google-auth over the writer's HTTP client) or a ready access token (`access_token_env`).
- Length: "The maximum length is 4096 bytes" (ReviewReply.comment): counted as UTF-8 bytes.
  The comment is "plain text with markups" and the feed reads replies back as HTML, so a text
  with something that looks like an HTML tag is refused before posting: what is shown is what
  the agent typed.
- One reply per review: "Updates the reply to the specified review. A reply is created if one
  does not exist." An existing owner reply is REPLACED (`replaces_existing`: the modal warns),
  and a request whose answer was lost may be sent again as it was (`takes_key`): it cannot make
  a second reply.
- Looking for our own reply: GET .../reviews/{reviewId} (accounts.locations.reviews.get), the
  reviewReply with this text and an updateTime at or after `since`.
- Ids: the reply is "{reviewId}:reply" at its updateTime, as the feed's connector reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

import httpx
from pydantic import model_validator

from connectors.env import require_env
from connectors.errors import AuthError, ConnectorUnavailable, TransientError
from connectors.replies._review_sites import before_posting, google_request, html_tag_problem
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
)
from connectors.sources.googlebusiness import SCOPE, GoogleBusinessOptions, parse_time
from connectors.text import clean_text, html_to_text

SOURCE = "Google Business Profile"


class GoogleBusinessReplyOptions(ReplyOptions):
    access_token_env: str | None = None
    """env var holding an OAuth access token (scope business.manage); expires in about an hour"""
    client_id_env: str | None = None
    """refresh-token login: env var holding the OAuth client id"""
    client_secret_env: str | None = None
    """refresh-token login: env var holding the OAuth client secret"""
    refresh_token_env: str | None = None
    """refresh-token login: env var holding the refresh token of an owner or manager"""
    token_uri: str = "https://oauth2.googleapis.com/token"
    """where the refresh token is exchanged (a proxy or a test server)"""

    @model_validator(mode="after")
    def _one_login(self) -> GoogleBusinessReplyOptions:
        refresh = (self.client_id_env, self.client_secret_env, self.refresh_token_env)
        if any(refresh) and not all(refresh):
            raise ValueError(
                "the refresh-token login needs all of client_id_env, client_secret_env and "
                "refresh_token_env"
            )
        if bool(self.access_token_env) == all(refresh):
            raise ValueError(
                "set either access_token_env or the refresh-token login (client_id_env, "
                "client_secret_env, refresh_token_env)"
            )
        return self


class GoogleBusinessReplier(Replier[GoogleBusinessReplyOptions]):
    platform = "googlebusiness"
    max_length = 4096
    length_unit = "bytes (UTF-8)"
    takes_key = True
    # the reply replaces the owner's existing reply to the review, if there is one
    replaces_existing: ClassVar[bool] = True
    write_scopes = (
        "OAuth scope https://www.googleapis.com/auth/business.manage, for a Google account "
        "that is an owner or manager of the (verified) location"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._credentials: Any = None  # google.oauth2.credentials.Credentials

    def missing(self) -> str | None:
        options: GoogleBusinessReplyOptions = self.options
        if options.refresh_token_env:
            try:
                import google.oauth2.credentials  # noqa: F401
            except ImportError:
                return "google-auth is not installed (pip install google-auth)"
        return super().missing()

    def length(self, text: str) -> int:
        return len(text.encode("utf-8"))

    def check(self, text: str) -> str | None:
        return super().check(text) or html_tag_problem(
            text, "Google Business Profile reads a reply as text with markup"
        )

    def _review_url(self, review_id: str) -> str:
        feed = cast(GoogleBusinessOptions, self.feed_options)
        return (
            f"{self.base_url}/v4/accounts/{feed.account}/locations/{feed.location}"
            f"/reviews/{review_id}"
        )

    def _headers(self, client: httpx.Client) -> dict[str, str]:
        options: GoogleBusinessReplyOptions = self.options
        with before_posting(SOURCE):
            if options.access_token_env:
                token = require_env(
                    options.access_token_env, f"an OAuth access token with the {SCOPE} scope"
                )
            else:
                token = self._refreshed(client)
        return {"Authorization": f"Bearer {token}"}

    def _refreshed(self, client: httpx.Client) -> str:
        try:
            from google.auth import exceptions
            from google.oauth2.credentials import Credentials

            from connectors.googleauth import HttpxRequest
        except ImportError as exc:
            raise ConnectorUnavailable("the refresh-token login needs google-auth") from exc
        options: GoogleBusinessReplyOptions = self.options
        if self._credentials is None:
            self._credentials = Credentials(
                token=None,
                refresh_token=require_env(options.refresh_token_env, "a refresh token"),
                client_id=require_env(options.client_id_env, "the OAuth client id"),
                client_secret=require_env(options.client_secret_env, "the OAuth client secret"),
                token_uri=options.token_uri,
                scopes=[SCOPE],
            )
        if not self._credentials.valid:
            try:
                self._credentials.refresh(HttpxRequest(client))
            except exceptions.RefreshError as exc:
                self._credentials = None
                reason = exc.args[0] if exc.args else exc
                raise AuthError(
                    f"Google refused to refresh the access token ({reason}); check "
                    f"{options.client_id_env}, {options.client_secret_env} and "
                    f"{options.refresh_token_env} (a revoked refresh token needs a new consent)"
                ) from exc
            except exceptions.TransportError as exc:
                raise TransientError(str(exc)) from exc
        return str(self._credentials.token)

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        try:
            reply = google_request(
                client,
                "PUT",
                f"{self._review_url(target.external_id)}/reply",
                source=SOURCE,
                what="the reply",
                headers=self._headers(client),
                json={"comment": text},
            )
        except ReplyRefused as refused:
            if refused.kind == "auth":
                self._credentials = None  # a revoked token: the next attempt refreshes
            raise
        return _posted(target, reply)

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
        reply = review.get("reviewReply")
        if not isinstance(reply, dict):
            return None
        if html_to_text(reply.get("comment")) != clean_text(text):
            return None
        posted = _posted(target, reply)
        return posted if posted.created_at >= since else None


def _posted(target: ReplyTarget, reply: dict[str, Any]) -> PostedReply:
    try:
        created = parse_time(reply.get("updateTime"))
    except ValueError as exc:
        raise ReplyUnknown(f"{SOURCE}'s answer has an unreadable updateTime ({exc})") from exc
    if created is None:
        raise ReplyUnknown(f"{SOURCE}'s answer lacks the reply's updateTime")
    return PostedReply(
        external_id=f"{target.external_id}:reply",
        created_at=created,
        url=target.url,
        text=html_to_text(reply.get("comment")) or None,
    )
