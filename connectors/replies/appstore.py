"""App Store: the developer's response to a customer review, through the App Store Connect API.

- POST /v1/customerReviewResponses
  (https://developer.apple.com/documentation/appstoreconnectapi/post-v1-customerreviewresponses)
  with `data {type: customerReviewResponses, attributes {responseBody},
  relationships {review {data {type: customerReviews, id}}}}`. The answer (201) is a
  CustomerReviewResponseV1Response: the response's `id` and `attributes.lastModifiedDate`
  (Apple's time of the response) and `state`, PENDING_PUBLISH at first: "Responses don't
  appear in the App Store instantly".
- Only feeds with `mode = "connect"` can answer: the public RSS feed gives review ids that are
  not App Store Connect resource ids (a number such as 6262540813 against
  00000028-b08c-0014-729e-fbd500000000), and Apple documents no way from one to the other. An
  RSS feed's writer is not ready (`missing`), so its alerts show no Reply button.
- Write credentials: an App Store Connect API key whose role may respond to reviews (Customer
  Support, App Manager or Admin): its key id, issuer id and .p8 file path in the env vars named
  by `key_id_env`, `issuer_id_env`, `private_key_path_env`, signed into the same ES256 JWT as
  the feed's (`build_token`). Needs PyJWT with cryptography.
- Length: 5970 characters, the limit of App Store Connect's reply box that tools using this
  endpoint enforce; Apple's API reference names none. Plain text: Apple shows it as typed.
- One response per review: "Each customer review can have at most one review response", and
  "if a response already exists, this endpoint updates the response by overwriting it". An
  earlier response is REPLACED (`replaces_existing`: the modal warns), and a request whose
  answer was lost may be sent again as it was (`takes_key`): it cannot make a second response.
- Looking for our own reply: GET /v1/customerReviews/{id}/response, the response with this
  text and a lastModifiedDate at or after `since`.
- Ids: the response's resource id, as the feed's connector (connect mode) stores the included
  customerReviewResponses; it counts a response only once PUBLISHED, but a later poll finds it
  stored under the same id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, cast

import httpx

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorError, MalformedResponse
from connectors.replies._review_sites import answer_object, before_posting
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
    send,
)
from connectors.sources.appstore import (
    CONNECT_BASE_URL,
    RSS_BASE_URL,
    TOKEN_LIFETIME,
    AppStoreOptions,
    _parse_time,
    build_token,
)
from connectors.text import clean_text

SOURCE = "App Store Connect"
NOT_CONNECT = (
    "this feed reads the public App Store RSS feed, whose review ids are not App Store Connect"
    ' ids: replying needs the feed in mode = "connect"'
)


class AppStoreReplyOptions(ReplyOptions):
    key_id_env: str
    """env var holding the key id of an App Store Connect API key that may respond to reviews"""
    issuer_id_env: str
    """env var holding the issuer id (App Store Connect > Users and Access > Integrations)"""
    private_key_path_env: str
    """env var holding the path of that key's .p8 file"""


class AppStoreReplier(Replier[AppStoreReplyOptions]):
    platform = "appstore"
    max_length = 5970
    takes_key = True
    # the response replaces the developer's existing response to the review, if there is one
    replaces_existing: ClassVar[bool] = True
    write_scopes = (
        "an App Store Connect API key with the Customer Support, App Manager or Admin role "
        "(Users and Access > Integrations > App Store Connect API)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the feed's default API root is the RSS host; a connect feed's is App Store Connect
        if self.base_url == RSS_BASE_URL:
            self.base_url = CONNECT_BASE_URL
        self._token: tuple[str, datetime] | None = None

    def _connect_mode(self) -> bool:
        return cast(AppStoreOptions, self.feed_options).mode == "connect"

    def missing(self) -> str | None:
        if not self._connect_mode():
            return NOT_CONNECT
        try:
            import jwt  # noqa: F401
        except ImportError:
            return "PyJWT is not installed (pip install 'pyjwt[crypto]')"
        return super().missing()

    def _headers(self) -> dict[str, str]:
        now = datetime.now(UTC)
        if self._token and now < self._token[1] - timedelta(seconds=60):
            return {"Authorization": f"Bearer {self._token[0]}"}
        options: AppStoreReplyOptions = self.options
        with before_posting(SOURCE):
            key_id = require_env(options.key_id_env, "an App Store Connect API key id")
            issuer_id = require_env(options.issuer_id_env, "the App Store Connect issuer id")
            path = Path(require_env(options.private_key_path_env, "the .p8 key file's path"))
            if not path.is_absolute():  # as the feed reads it: next to the config file
                path = self.config_dir / path
            try:
                private_key = path.resolve().read_bytes()
            except OSError as exc:
                raise AuthError(
                    f"cannot read the .p8 key {path} named by {options.private_key_path_env}:"
                    f" {exc.strerror or exc}"
                ) from exc
            token = build_token(
                key_id=key_id, issuer_id=issuer_id, private_key=private_key, now=now
            )
        self._token = (token, now + timedelta(seconds=TOKEN_LIFETIME))
        return {"Authorization": f"Bearer {token}"}

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        if not self._connect_mode():
            raise ReplyRefused(f"{NOT_CONNECT}; nothing was posted", kind="invalid")
        request = {
            "data": {
                "type": "customerReviewResponses",
                "attributes": {"responseBody": text},
                "relationships": {
                    "review": {"data": {"type": "customerReviews", "id": target.external_id}}
                },
            }
        }
        try:
            _response, body = send(
                client,
                "POST",
                f"{self.base_url}/v1/customerReviewResponses",
                source=SOURCE,
                refusal=_error,
                headers=self._headers(),
                json=request,
            )
        except ReplyRefused as refused:
            if refused.kind == "auth":
                self._token = None
            raise
        return _posted(target, answer_object(body, SOURCE, "the response"))

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        if not self._connect_mode():
            raise ReplyUnknown(NOT_CONNECT)
        try:
            _response, body = send(
                client,
                "GET",
                f"{self.base_url}/v1/customerReviews/{target.external_id}/response",
                source=SOURCE,
                refusal=_error,
                headers=self._headers(),
            )
        except ReplyRefused as refused:
            if refused.kind == "gone":
                return None  # the review has no response (or is gone): ours is not there
            raise
        data = answer_object(body, SOURCE, "the response").get("data")
        if not isinstance(data, dict):
            return None
        attributes = data.get("attributes") or {}
        if clean_text(str(attributes.get("responseBody") or "")) != clean_text(text):
            return None
        posted = _posted(target, {"data": data})
        return posted if posted.created_at >= since else None


def _posted(target: ReplyTarget, answer: dict[str, Any]) -> PostedReply:
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise ReplyUnknown(f"{SOURCE}'s answer lacks the response's id")
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        attributes = {}
    try:
        created = _parse_time(attributes.get("lastModifiedDate"), "lastModifiedDate")
    except MalformedResponse as exc:
        raise ReplyUnknown(f"{SOURCE}'s answer has no readable response time ({exc})") from exc
    return PostedReply(
        external_id=data["id"],
        created_at=created,
        url=target.url,
        text=clean_text(str(attributes.get("responseBody") or "")) or None,
    )


def _error(_response: httpx.Response, body: bytes) -> str | None:
    """Apple explains a refusal as {"errors": [{"status", "code", "title", "detail"}]}."""
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None
    errors = found.get("errors") if isinstance(found, dict) else None
    words = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            for key in ("title", "detail"):  # "An attribute value is invalid." then which
                said = error.get(key)
                if isinstance(said, str) and said and said not in words:
                    words.append(said)
    return " ".join(words) or None
