"""Stack Exchange: the brand's reply is a comment on the question, as the brand's user.

- POST /2.3/posts/{question_id}/comments/add (https://api.stackexchange.com/docs/create-comment)
  with `body`, `site`, `key`, `access_token` and `filter=withbody` (the created comment comes
  back with its body). Write access: https://api.stackexchange.com/docs/write.
- Write credentials: an access token of the brand's user with the scope `write_access`
  (`no_expiry` keeps it from lapsing after a day), in the env var named by
  `access_token_env`, and the Stack Apps key of the app that issued it (`key_env`; writes
  need a key, and the app a registered Stack Apps post). The feed's read key may be the same.
- What the API allows: comments only (no answers through this writer). The user needs the
  "comment everywhere" privilege (50 reputation on that site; commenting on one's own posts
  needs less, but the question is the customer's), gets 3 comment writes a day plus one per
  25 reputation above 50, and at most one every 5 seconds, counted across sites and apps.
- Length: 15 to 600 characters of the comment's Markdown source, counted after escaping.
- Plain text: comments take a mini-Markdown (*italic*, **bold**, `code`, [links](...),
  magic links such as [so] or [tag:x], ---strike---). Every character that opens one,
  \\ ` * _ [ ], and each hyphen of a run of three, is backslash-escaped; bare http(s) URLs
  are left as typed (the site links them to themselves). Comments are one paragraph: line
  breaks and runs of blanks are sent as one space.
- Errors: the API answers every error with HTTP 400 and `error_id` / `error_name` /
  `error_message` in the body (https://api.stackexchange.com/docs/error-handling), so the
  `error_id` decides, not the status: 401/402/403/405/406 -> auth, 502
  throttle_violation -> rate_limited, 409 duplicate_request (an identical request was just
  made, and may have posted) and 500/503 -> ReplyUnknown, the rest (400 bad_parameter,
  404, 407 write_failed: a throttle or a rule, in its words) -> invalid.
- Duplicates: no idempotency key. `find_own` asks who the token is (GET /me) and reads the
  question's comments (GET /posts/{id}/comments, newest first) for the user's comment with
  this text at or after `since`.
- The comment's external id is `<site>:c:<comment_id>`, as the feed's connector stores it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorError
from connectors.http import utc_from_timestamp
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

# the read connector's own parsing of an owner, so a reply reads as a poll gives it
from connectors.sources.stackexchange import (
    DEFAULT_THROTTLE_SECONDS,
    StackExchangeOptions,
    _owner,
)
from connectors.text import html_to_text

SOURCE = "Stack Exchange"
MIN_CHARACTERS = 15
MAX_CHARACTERS = 600
# creation_date is whole seconds and our clock is not theirs (see reddit.py)
CLOCK_SLACK = timedelta(seconds=60)
_ESCAPABLE = frozenset("\\`*_[]")
_STRIKE = re.compile(r"-{3,}")
_BARE_URL = re.compile(r"https?://[^\s<>\[\](){}`*\\\"]+")
_URL_TAIL = ".,:;!?'"
_AVAILABLE_IN = re.compile(r"available in (\d+) seconds")
_AUTH_ERRORS = {401, 402, 403, 405, 406}
_UNKNOWN_ERRORS = {409, 500, 503}


class StackExchangeReplyOptions(ReplyOptions):
    access_token_env: str
    """env var holding an access token of the brand's user (scopes `write_access no_expiry`)"""
    key_env: str
    """env var holding the Stack Apps key of the app that issued the token"""


def escape_comment(text: str) -> str:
    """`text` as a comment's mini-Markdown that shows as typed (see the module docstring)."""
    flat = " ".join(text.split())
    parts: list[str] = []
    at = 0
    for match in _BARE_URL.finditer(flat):
        url = match.group().rstrip(_URL_TAIL)
        parts.append(_escape_chars(flat[at : match.start()]))
        parts.append(url)
        at = match.start() + len(url)
    parts.append(_escape_chars(flat[at:]))
    return "".join(parts)


def _escape_chars(text: str) -> str:
    text = "".join("\\" + c if c in _ESCAPABLE else c for c in text)
    return _STRIKE.sub(lambda m: "\\-" * len(m.group()), text)


class StackExchangeReplier(Replier[StackExchangeReplyOptions]):
    platform = "stackexchange"
    max_length = MAX_CHARACTERS
    write_scopes = "write_access (and no_expiry), with the app's key"

    def length(self, text: str) -> int:
        return len(escape_comment(text))

    def check(self, text: str) -> str | None:
        problem = super().check(text)
        if problem is None and (size := self.length(text)) < MIN_CHARACTERS:
            return (
                f"{self.platform} takes at least {MIN_CHARACTERS} characters in a comment;"
                f" this reply has {size}. Add {MIN_CHARACTERS - size}."
            )
        return problem

    def _site(self) -> str:
        if not isinstance(self.feed_options, StackExchangeOptions):
            raise ReplyRefused("the feed is not a Stack Exchange feed", kind="invalid")
        return self.feed_options.site

    def _credentials(self) -> dict[str, str]:
        options: StackExchangeReplyOptions = self.options
        try:
            return {
                "site": self._site(),
                "key": require_env(options.key_env, "the Stack Apps key of the posting app"),
                "access_token": require_env(
                    options.access_token_env, "an access token with scope write_access"
                ),
            }
        except AuthError as exc:
            raise ReplyRefused(f"{exc}: nothing was posted", kind="auth") from exc

    def _question(self, target: ReplyTarget) -> str:
        prefix = f"{self._site()}:q:"
        qid = target.external_id.removeprefix(prefix)
        if not target.external_id.startswith(prefix) or not qid.isdigit():
            raise ReplyRefused(
                f"{target.external_id} is not a question on {self._site()}: nothing was posted",
                kind="invalid",
            )
        return qid

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        qid = self._question(target)
        _response, body = send(
            client,
            "POST",
            f"{self.base_url}/posts/{qid}/comments/add",
            source=SOURCE,
            refusal=_refusal,
            data={**self._credentials(), "body": escape_comment(text), "filter": "withbody"},
        )
        found = _object(body)
        if found is None:
            raise ReplyUnknown(
                "Stack Exchange's answer could not be read: the comment may have been posted"
            )
        _raise_error(found)  # a 200 carries an error only for JSONP, but read it anyway
        items = found.get("items")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise ReplyUnknown("Stack Exchange's answer has no comment: it may have been posted")
        return self._posted(items[0], target)

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        try:
            return self._find_own(client, target, text, since)
        except ReplyRefused as refused:
            raise ReplyUnknown(
                f"could not read the question's comments: {refused.message}"
            ) from None

    def _find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        qid = self._question(target)
        credentials = self._credentials()
        _r, body = send(
            client,
            "GET",
            f"{self.base_url}/me",
            source=SOURCE,
            refusal=_refusal,
            params=credentials,
        )
        users = (_object(body) or {}).get("items")
        if not isinstance(users, list) or not users or not isinstance(users[0], dict):
            raise ReplyUnknown("Stack Exchange did not say whose the access token is")
        me = str(users[0].get("user_id"))
        _r, body = send(
            client,
            "GET",
            f"{self.base_url}/posts/{qid}/comments",
            source=SOURCE,
            refusal=_refusal,
            params={
                **credentials,
                "filter": "withbody",
                "sort": "creation",
                "order": "desc",
                "pagesize": "100",
            },
        )
        comments = (_object(body) or {}).get("items")
        if not isinstance(comments, list):
            raise ReplyUnknown("Stack Exchange's comments answer is not the documented wrapper")
        for comment in comments:
            if not isinstance(comment, dict) or _owner(comment)[1] != me:
                continue
            if not same_words(html_to_text(str(comment.get("body") or "")), text):
                continue
            created = comment.get("creation_date")
            if isinstance(created, int) and utc_from_timestamp(created) >= since - CLOCK_SLACK:
                return self._posted(comment, target)
        return None

    def _posted(self, comment: dict[str, Any], target: ReplyTarget) -> PostedReply:
        comment_id, created = comment.get("comment_id"), comment.get("creation_date")
        if not isinstance(comment_id, int) or not isinstance(created, int):
            raise ReplyUnknown("Stack Exchange's answer lacks the comment's id or time")
        qid = target.external_id.rsplit(":", 1)[-1]
        author, author_id = _owner(comment)
        body = comment.get("body")
        return PostedReply(
            external_id=f"{self._site()}:c:{comment_id}",
            created_at=utc_from_timestamp(created),
            url=f"{target.url}#comment{comment_id}_{qid}" if target.url else None,
            author=author,
            author_id=author_id,
            text=html_to_text(body) if isinstance(body, str) else None,
        )


def _raise_error(found: dict[str, Any]) -> None:
    """The wrapper's error_id as the refusal (or the unknown) it means."""
    error_id = found.get("error_id")
    if error_id is None:
        return
    name = str(found.get("error_name") or "")
    said = _cut(f"{error_id} {name}: {found.get('error_message') or ''}".strip(" :"))
    if error_id == 502 or name == "throttle_violation":
        match = _AVAILABLE_IN.search(str(found.get("error_message") or ""))
        wait = float(match.group(1)) if match else DEFAULT_THROTTLE_SECONDS
        raise ReplyRefused(
            f"Stack Exchange is throttling the brand's user ({said}): nothing was posted;"
            f" try again later (wait {int(wait)} s)",
            kind="rate_limited",
            retry_after=wait,
        )
    if error_id in _AUTH_ERRORS:
        raise ReplyRefused(
            f"Stack Exchange refused the write credentials ({said}): nothing was posted; ask"
            " whoever runs the monitor to check the feed's reply token (scope write_access)"
            " and key",
            kind="auth",
        )
    if error_id in _UNKNOWN_ERRORS:
        raise ReplyUnknown(f"Stack Exchange failed ({said}): the comment may have been posted")
    raise ReplyRefused(
        f"Stack Exchange refused the comment ({said}): nothing was posted", kind="invalid"
    )


def _refusal(_response: httpx.Response, body: bytes) -> str | None:
    """Every API error is a 400: its error_id decides the kind (see the module docstring)."""
    found = _object(body)
    if found is not None:
        _raise_error(found)
    return None


def _object(body: bytes) -> dict[str, Any] | None:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None
    return found if isinstance(found, dict) else None


def _cut(words: str) -> str:
    flat = " ".join(words.split())
    return flat if len(flat) <= MAX_QUOTE else flat[: MAX_QUOTE - 1] + "…"
