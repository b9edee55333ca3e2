"""Trustpilot: the company's public reply to a service review, through the private reviews API.

- POST /v1/private/reviews/{reviewId}/reply (https://developers.trustpilot.com/service-reviews-api,
  "Reply to a review") with `{"authorBusinessUserId": ..., "message": ...}` and a business
  user OAuth token. The docs show no answer body, so the reply is then read back from
  GET /v1/reviews/{reviewId} (the review's public information, `apikey` header): its
  `companyReply.createdAt` is the reply's time. A reply accepted but not readable back is an
  unknown outcome (`find_own` looks for it before anything is sent again).
- Write credentials: the API key and secret of a Trustpilot Business application
  (Integrations > Developers > APIs), in the env vars named by `api_key_env` and
  `api_secret_env`, exchanged for an access token with the client-credentials grant
  (POST /v1/oauth/oauth-business-users-for-applications/accesstoken, valid 100 hours, kept in
  `self.logins`; https://developers.trustpilot.com/get-started/authentication/grant-type-client-credentials);
  or a ready business-user access token in `access_token_env`. `business_user_id` is the
  Trustpilot Business user the reply is posted as (its profile page shows the id); the
  user needs to be an admin of the business unit, on a plan that includes the API.
- Length: Trustpilot's API documentation names no limit for `message`; `max_characters`
  (5000 by default) is this writer's own bound, so an accidental paste is caught in the
  modal. A refusal is shown in Trustpilot's words (`{"message", "details"}`).
- Text: posted as typed. The feed reads replies back as HTML, so a text with something that
  looks like an HTML tag is refused before posting.
- One reply per review: a review carries one `companyReply`. The docs do not say whether a
  second POST replaces it or is refused; either way no second reply can appear, so a request
  whose answer was lost may be sent again as it was (`takes_key`), and the modal warns that an
  existing reply would be replaced (`replaces_existing`).
- Ids: the reply is "{reviewId}:reply" at `companyReply.createdAt` (zoneless times are UTC),
  as the feed's connector reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import httpx
from pydantic import Field, model_validator

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import ConnectorError
from connectors.replies._review_sites import (
    answer_object,
    before_posting,
    html_tag_problem,
    token_request,
)
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyError,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
    send,
)
from connectors.sources.trustpilot import REVIEW_PAGE, parse_time
from connectors.text import clean_text, html_to_text

SOURCE = "Trustpilot"
TOKEN_PATH = "/v1/oauth/oauth-business-users-for-applications/accesstoken"
# a token is dropped this long before Trustpilot's expiry, so none expires mid-request
TOKEN_MARGIN = timedelta(minutes=5)


class TrustpilotReplyOptions(ReplyOptions):
    business_user_id: str = Field(min_length=1)
    """the Trustpilot Business user the reply is posted as (authorBusinessUserId)"""
    api_key_env: str
    """env var holding the API key of the Trustpilot Business application"""
    api_secret_env: str | None = None
    """env var holding that application's API secret (client-credentials login)"""
    access_token_env: str | None = None
    """instead of the secret: env var holding a ready business-user access token"""
    max_characters: int = Field(default=5000, ge=1)
    """the longest reply the modal lets through (Trustpilot documents no limit)"""

    @model_validator(mode="after")
    def _one_login(self) -> TrustpilotReplyOptions:
        if bool(self.api_secret_env) == bool(self.access_token_env):
            raise ValueError("set one of api_secret_env and access_token_env")
        return self


class TrustpilotReplier(Replier[TrustpilotReplyOptions]):
    platform = "trustpilot"
    max_length = 5000
    takes_key = True
    # a review has one company reply: a reply to an answered review takes its place
    replaces_existing: ClassVar[bool] = True
    write_scopes = (
        "a business-user OAuth token of a Trustpilot Business application (API key and "
        "secret); the business user must be an admin of the business unit"
    )

    def limit(self) -> int:
        options: TrustpilotReplyOptions = self.options
        return options.max_characters

    def check(self, text: str) -> str | None:
        return super().check(text) or html_tag_problem(
            text, "the monitor reads Trustpilot replies back as HTML"
        )

    def _account(self) -> tuple[str, str, str]:
        options: TrustpilotReplyOptions = self.options
        return ("trustpilot-reply", self.base_url, options.api_key_env)

    def _token(self, client: httpx.Client) -> str:
        options: TrustpilotReplyOptions = self.options
        with before_posting(SOURCE):
            if options.access_token_env:
                return require_env(options.access_token_env, "a Trustpilot business-user token")
            return self.logins.token(
                self._account(), datetime.now(UTC), lambda: self._login(client)
            )

    def _login(self, client: httpx.Client) -> tuple[str, datetime]:
        options: TrustpilotReplyOptions = self.options
        key = require_env(options.api_key_env, "the Trustpilot application's API key")
        secret = require_env(options.api_secret_env, "the Trustpilot application's API secret")
        answer = token_request(
            client,
            f"{self.base_url}{TOKEN_PATH}",
            source=SOURCE,
            refusal=_error,
            auth=(key, secret),
            data={"grant_type": "client_credentials"},
        )
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise ReplyRefused(
                "Trustpilot's token answer has no access_token: nothing was posted", kind="auth"
            )
        try:
            lifetime = timedelta(seconds=float(answer.get("expires_in") or 0))
        except (TypeError, ValueError):
            lifetime = timedelta()
        return token, datetime.now(UTC) + max(lifetime - TOKEN_MARGIN, timedelta(minutes=1))

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        options: TrustpilotReplyOptions = self.options
        token = self._token(client)
        try:
            send(
                client,
                "POST",
                f"{self.base_url}/v1/private/reviews/{target.external_id}/reply",
                source=SOURCE,
                refusal=_error,
                headers={"Authorization": f"Bearer {token}"},
                json={"authorBusinessUserId": options.business_user_id, "message": text},
            )
        except ReplyRefused as refused:
            if refused.kind == "auth" and not options.access_token_env:
                self.logins.forget(self._account(), token)  # the next attempt logs in again
            raise
        try:
            posted = self._read_back(client, target, text)
        except ReplyError as exc:
            raise ReplyUnknown(
                f"Trustpilot accepted the reply, but the review could not be read back for its"
                f" time ({exc.message})"
            ) from exc
        if posted is None:
            raise ReplyUnknown("Trustpilot accepted the reply, but the review does not show it yet")
        return posted

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        posted = self._read_back(client, target, text)
        return posted if posted is not None and posted.created_at >= since else None

    def _read_back(
        self, client: httpx.Client, target: ReplyTarget, text: str
    ) -> PostedReply | None:
        """The review's company reply if it is this text (GET /v1/reviews/{id}, public)."""
        options: TrustpilotReplyOptions = self.options
        with before_posting(SOURCE):
            api_key = require_env(options.api_key_env, "the Trustpilot application's API key")
        _response, body = send(
            client,
            "GET",
            f"{self.base_url}/v1/reviews/{target.external_id}",
            source=SOURCE,
            refusal=_error,
            headers={"apikey": api_key, "Accept": "application/json"},
        )
        reply = answer_object(body, SOURCE, "the review").get("companyReply")
        if not isinstance(reply, dict) or html_to_text(reply.get("text")) != clean_text(text):
            return None
        try:
            created = parse_time(reply.get("createdAt")) or parse_time(reply.get("updatedAt"))
        except ValueError as exc:
            raise ReplyUnknown(f"Trustpilot's companyReply has an unreadable time ({exc})") from exc
        if created is None:
            raise ReplyUnknown("Trustpilot's companyReply has no time")
        return PostedReply(
            external_id=f"{target.external_id}:reply",
            created_at=created,
            url=REVIEW_PAGE.format(id=target.external_id),
            text=html_to_text(reply.get("text")) or None,
        )


def _error(_response: httpx.Response, body: bytes) -> str | None:
    """Trustpilot explains a refusal as {"message", "errorCode", "details"} (the token
    endpoint as OAuth's {"error", "error_description"})."""
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None
    if not isinstance(found, dict):
        return None
    words = [
        str(found[key])
        for key in ("message", "details", "error", "error_description")
        if isinstance(found.get(key), str) and found[key]
    ]
    return ": ".join(words) or None
