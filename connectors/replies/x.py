"""X (Twitter): the brand's reply is a post with `reply.in_reply_to_tweet_id` = the mention.

- POST /2/tweets with JSON {"text", "reply": {"in_reply_to_tweet_id"}}
  (https://docs.x.com/x-api/posts/create-post); the answer is {"data": {"id", "text"}} and
  carries no time. The time is the post id's own: ids are snowflakes holding the milliseconds
  since 1288834974657 (https://docs.x.com/fundamentals/x-ids), X's clock when it created the
  post, read without another request (a GET /2/tweets/:id would cost a read, and on the
  lower access levels a scarce one). The feed's connector uses the same time for a post
  without `created_at`; `created_at` is that time cut to the second.
- Write credentials: an OAuth 2.0 user access token of the brand's account (Authorization Code
  with PKCE) with the scopes tweet.read tweet.write users.read, in the env var named by
  `token_env`, sent as a Bearer token. Such a token lasts two hours unless renewed with its
  refresh token (scope offline.access), which this writer does not do: a 401 says to put a
  fresh token in the env var.
- Length: 280 weighted characters (`max_characters` for a Premium account's longer posts),
  counted as X counts them, or longer where X's lists cannot be known
  (connectors/replies/_weighted.py): most CJK characters weigh 2, a URL 23.
- Duplicates: X takes no idempotency key. It refuses a post whose text equals one of the
  account's recent posts (403 "duplicate content"), which is shown to the agent as is (vary a
  canned reply). `find_own` reads the brand's own timeline since the mention (GET /2/users/me,
  then GET /2/users/:id/tweets?since_id=<mention>) for a post replying to the mention with
  the same text at or after the attempt.
- Text: posted as typed; X shows plain text (X escapes &, < and > in what it returns, which
  `find_own` reads back as typed).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field

from connectors.apijson import json_object
from connectors.env import require_env
from connectors.http import MAX_RETRY_AFTER, parse_retry_after
from connectors.replies._weighted import weighted_length
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
from connectors.sources.x import WEB_URL, snowflake_time

SOURCE = "X"
# a 429 without any reset header: X's rate-limit window
DEFAULT_WAIT = 900.0
_LEADING_MENTIONS = re.compile(r"^(?:@\w{1,15}\s+)+")
_URL = re.compile(r"https?://\S+")


class XReplyOptions(ReplyOptions):
    token_env: str
    """env var holding the brand account's OAuth 2.0 user access token
    (scopes tweet.read tweet.write users.read)"""
    max_characters: int = Field(default=280, ge=1)
    """the account's post limit in weighted characters (25,000 for a Premium account)"""


class XReplier(Replier[XReplyOptions]):
    platform = "x"
    max_length = 280
    length_unit = "weighted characters"
    write_scopes = "tweet.read tweet.write users.read (OAuth 2.0 user context)"

    def limit(self) -> int:
        options: XReplyOptions = self.options
        return options.max_characters

    def length(self, text: str) -> int:
        return weighted_length(text)

    def _headers(self) -> dict[str, str]:
        options: XReplyOptions = self.options
        token = require_env(options.token_env, f"an X user access token ({self.write_scopes})")
        return {"Authorization": f"Bearer {token}"}

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        _response, body = self._send(
            client,
            "POST",
            f"{self.base_url}/2/tweets",
            json={"text": text, "reply": {"in_reply_to_tweet_id": target.external_id}},
        )
        data = json_object(body, what=SOURCE)
        created = data.get("data") if data else None
        post_id = created.get("id") if isinstance(created, dict) else None
        if not isinstance(post_id, str) or not post_id.isascii() or not post_id.isdigit():
            raise ReplyUnknown("X's answer has no post id: the reply may have been posted")
        assert isinstance(created, dict)
        return _posted(created)

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        try:
            _r, me = self._send(client, "GET", f"{self.base_url}/2/users/me")
            user = (json_object(me, what=SOURCE) or {}).get("data")
            user_id = user.get("id") if isinstance(user, dict) else None
            if not isinstance(user_id, str) or not user_id.isdigit():
                raise ReplyUnknown("X did not say which account the token belongs to")
            _r, body = self._send(
                client,
                "GET",
                f"{self.base_url}/2/users/{user_id}/tweets",
                params={
                    "since_id": target.external_id,
                    "max_results": "100",
                    "tweet.fields": "created_at,referenced_tweets,author_id,note_tweet",
                },
            )
        except ReplyError as exc:
            raise ReplyUnknown(
                f"X could not be asked whether the earlier reply was posted ({exc.message})"
            ) from exc
        posts = (json_object(body, what=SOURCE) or {}).get("data")
        wanted = _comparable(text)
        for found in posts if isinstance(posts, list) else []:
            if not isinstance(found, dict) or not _replies_to(found, target.external_id):
                continue
            if _comparable(_text(found)) != wanted or not str(found.get("id", "")).isdigit():
                continue
            posted = _posted(found)
            if posted.created_at >= since:
                return posted
        return None

    def _send(
        self, client: httpx.Client, method: str, url: str, **request: Any
    ) -> tuple[httpx.Response, bytes]:
        """`send`, with X's problem body read: a 403 for the text, a 429's reset time."""
        meant: list[ReplyError] = []
        options: XReplyOptions = self.options

        def refusal(response: httpx.Response, body: bytes) -> str | None:
            problem = _problem(json_object(body, what=SOURCE))
            words = _describe(problem)
            said = f": {words}" if words else ""
            status = response.status_code
            if status == 429:
                wait = _wait(response, problem)
                meant.append(
                    ReplyRefused(
                        f"X is rate limiting the brand's account (429){said}: nothing was"
                        f" posted; try again in {int(wait)} s",
                        kind="rate_limited",
                        retry_after=wait,
                    )
                )
            elif status == 403 and _about_the_post(problem):
                meant.append(
                    ReplyRefused(
                        f"X refused the reply (403){said}: nothing was posted", kind="invalid"
                    )
                )
            elif status == 401:
                meant.append(
                    ReplyRefused(
                        f"X refused the write token (401){said}: nothing was posted; the"
                        f" OAuth 2.0 user token lasts two hours: ask whoever runs the monitor"
                        f" to put a fresh one in {options.token_env}",
                        kind="auth",
                    )
                )
            return words or None

        try:
            return send(
                client,
                method,
                url,
                source=SOURCE,
                refusal=refusal,
                headers=self._headers(),
                **request,
            )
        except ReplyRefused as exc:
            if meant:
                raise meant[0] from exc
            raise


def _posted(post: dict[str, Any]) -> PostedReply:
    post_id = str(post["id"])
    return PostedReply(
        external_id=post_id,
        created_at=snowflake_time(post_id),
        url=f"{WEB_URL}/i/web/status/{post_id}",
        author_id=str(post["author_id"]) if post.get("author_id") else None,
        text=_text(post),
    )


def _text(post: dict[str, Any]) -> str:
    note = post.get("note_tweet")  # a long post: `text` holds only its beginning
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        return str(note["text"])
    return str(post.get("text") or "")


def _replies_to(post: dict[str, Any], mention_id: str) -> bool:
    refs = post.get("referenced_tweets")
    return any(
        isinstance(ref, dict) and ref.get("type") == "replied_to" and ref.get("id") == mention_id
        for ref in (refs if isinstance(refs, list) else [])
    )


def _comparable(text: str) -> str:
    """Text as typed and text as X returns it compare equal: entities unescaped, the
    @names X puts before a reply dropped, links (shortened to t.co) blanked."""
    text = _LEADING_MENTIONS.sub("", html.unescape(text).strip())
    return " ".join(_URL.sub("<link>", text).split())


def _problem(data: dict[str, Any] | None) -> dict[str, Any]:
    """The v2 problem: the body itself (type, title, detail) or the first of its `errors`."""
    if not data:
        return {}
    if data.get("type") or data.get("title") or data.get("detail"):
        return data
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0]
    return {}


def _describe(problem: dict[str, Any]) -> str:
    parts = [str(problem[k]) for k in ("title", "detail", "message") if problem.get(k)]
    return ": ".join(dict.fromkeys(parts))


def _about_the_post(problem: dict[str, Any]) -> bool:
    """A 403 about this post (a duplicate, a conversation closed to replies), not the token."""
    words = _describe(problem).casefold()
    return "duplicate" in words or "reply" in words or "replies" in words


def _wait(response: httpx.Response, problem: dict[str, Any]) -> float:
    """Seconds until X takes a post again: Retry-After, else the latest reset of a window
    used up (15 minutes, or the account's and app's 24 hours), else 15 minutes."""
    if str(problem.get("type") or "").endswith("/usage-capped"):
        return MAX_RETRY_AFTER  # the project's monthly cap: not before the portal's date
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after:
        return retry_after
    now = datetime.now(UTC).timestamp()
    resets = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        remaining = response.headers.get(f"{prefix}-remaining", "").strip()
        reset = response.headers.get(f"{prefix}-reset", "").strip()
        if reset.isascii() and reset.isdigit() and remaining in ("0", ""):
            resets.append(float(reset) - now)
    wait = max(resets, default=DEFAULT_WAIT)
    return min(max(wait, 1.0), MAX_RETRY_AFTER)
