"""Mastodon: the brand's reply is a public status with `in_reply_to_id` set.

- POST /api/v1/statuses (https://docs.joinmastodon.org/methods/statuses/#create) with
  `status`, `in_reply_to_id` and `visibility`; the `Idempotency-Key` header makes the server
  return the first status for a repeated key for an hour, so a request whose answer was lost
  is sent again as it was.
- Write credentials: an access token of the brand's account with scope `write:statuses`
  (and `read:statuses` to look for an earlier reply), in the env var named by `token_env`.
- Length: 500 characters unless the instance allows more (`max_characters`, from
  GET /api/v2/instance `configuration.statuses.max_characters`); a link counts 23 and a
  remote account's mention its `@name` only, as the server counts.
- Looking for our own reply: GET /api/v1/statuses/{id}/context, the descendants answering the
  mention whose account is the token's (GET /api/v1/accounts/verify_credentials).
- The status id is local to the instance, as the feed's connector stores it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import ConnectorError
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyTarget,
    ReplyUnknown,
    send,
)
from connectors.sources.mastodon import parse_time
from connectors.text import clean_text, html_to_text

SOURCE = "Mastodon"
_LINK = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"@(\w+)@[\w.-]+\w")


class MastodonReplyOptions(ReplyOptions):
    token_env: str
    """env var holding the brand account's access token (scope `write:statuses read:statuses`)"""
    visibility: Literal["public", "unlisted"] = "public"
    """who sees the reply: `public`, or `unlisted` (public but not on public timelines)"""
    max_characters: int = 500
    """the instance's status limit (GET /api/v2/instance: configuration.statuses.max_characters)"""


class MastodonReplier(Replier[MastodonReplyOptions]):
    platform = "mastodon"
    max_length = 500
    takes_key = True
    write_scopes = "write:statuses read:statuses"
    # The server remembers an Idempotency-Key for an hour (the statuses#create docs): a request
    # resent later under the same key creates a second status.
    key_lifetime = timedelta(hours=1)

    length_unit = "characters (a link counts 23)"

    def limit(self) -> int:
        options: MastodonReplyOptions = self.options
        return options.max_characters

    def length(self, text: str) -> int:
        """As Mastodon's StatusLengthValidator counts: a link is 23 characters whatever its
        length, and a mention of a remote account counts its `@name` only."""
        text = _LINK.sub("x" * 23, text)
        return len(_REMOTE_MENTION.sub(r"@\1", text))

    def _headers(self) -> dict[str, str]:
        options: MastodonReplyOptions = self.options
        return {"Authorization": f"Bearer {require_env(options.token_env, 'a Mastodon token')}"}

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        options: MastodonReplyOptions = self.options
        _response, body = send(
            client,
            "POST",
            f"{self.base_url}/api/v1/statuses",
            source=SOURCE,
            refusal=_error,
            headers=self._headers() | {"Idempotency-Key": key},
            data={
                "status": text,
                "in_reply_to_id": target.external_id,
                "visibility": options.visibility,
            },
        )
        return _posted(_json(body), "the created status")

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        headers = self._headers()
        _r, me = send(
            client,
            "GET",
            f"{self.base_url}/api/v1/accounts/verify_credentials",
            source=SOURCE,
            headers=headers,
        )
        account_id = str(_json(me).get("id") or "")
        _r, body = send(
            client,
            "GET",
            f"{self.base_url}/api/v1/statuses/{target.external_id}/context",
            source=SOURCE,
            headers=headers,
        )
        descendants = _json(body).get("descendants")
        # the status's HTML read back has its blanks folded: compare the text folded alike
        wanted = clean_text(text)
        for status in descendants if isinstance(descendants, list) else []:
            if not isinstance(status, dict):
                continue
            account = status.get("account") or {}
            if (
                str(status.get("in_reply_to_id")) == target.external_id
                and str(account.get("id")) == account_id
                and html_to_text(status.get("content")) == wanted
            ):
                posted = _posted(status, "a reply in the thread")
                if posted.created_at >= since:
                    return posted
        return None


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError as exc:
        raise ReplyUnknown(f"Mastodon's answer could not be read ({exc})") from exc
    if not isinstance(found, dict):
        raise ReplyUnknown("Mastodon's answer is not a JSON object")
    return found


def _posted(status: dict[str, Any], what: str) -> PostedReply:
    account = status.get("account") or {}
    try:
        return PostedReply(
            external_id=str(status["id"]),
            created_at=parse_time(status.get("created_at")),
            url=status.get("url") or status.get("uri"),
            author=account.get("acct"),
            author_id=str(account["id"]) if account.get("id") is not None else None,
            text=html_to_text(status.get("content")),
        )
    except (KeyError, ValueError) as exc:
        raise ReplyUnknown(f"Mastodon's answer lacks {what}'s id or time") from exc


def _error(_response: httpx.Response, body: bytes) -> str | None:
    """Mastodon explains a refusal as {"error": "Validation failed: ..."}."""
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None
    error = found.get("error") if isinstance(found, dict) else None
    return error if isinstance(error, str) else None
