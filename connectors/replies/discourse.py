"""Discourse: the brand's reply is a post in the mention's topic, answering the mention's post.

- POST /posts.json with {raw, topic_id, reply_to_post_number}
  (https://docs.discourse.org/#tag/Posts/operation/createTopicPostPM); the mention's id,
  `t/<topic_id>/<post_number>`, names both. Headers `Api-Key` and `Api-Username`.
- Write credentials: an API key (Admin > Advanced > API keys) in `api_key_env` and the
  username the replies are posted as in `api_username_env`: a "single user" key for the
  brand's account, or an "all users" key; scopes "topics: write" (posts#create) and, to look
  for an earlier reply, "topics: read". Separate from the feed's read key.
- Length: the forum's `max_post_length` (32000 by default) and `min_post_length` (20)
  characters of raw body, counted once escaped (below), checked before posting.
- Text: Discourse renders Markdown, BBCode and some HTML, so the typed text is escaped to
  render as typed (connectors/replies/_markdown.py: every markup character backslash-escaped,
  `[` included, which starts BBCode; typed URLs as autolinks to exactly themselves).
- Duplicates: Discourse takes no idempotency key. It answers an API request repeated with
  the same parameters within 120 s with the first post (PostsController#create memoizes it),
  and `find_own` reads the topic's posts by the brand's username (GET /t/{id}.json with
  `username_filters` and `include_raw`, the latest ones through /t/{id}/posts.json) for one
  answering the mention with this raw body, created at or after `since`.
- A reply held for a moderator's approval (the answer's `action` is "enqueued") is not
  public: the outcome is unknown until it is approved, and nothing is posted again.
- Refusals: 422 carries Discourse's words ("Body is too similar to what you recently
  posted"); 429 `Retry-After` (and `extras.wait_seconds`); 403 a key without the scope or a
  user who may not post there; 404 a deleted topic.
- The reply's id is `t/<topic_id>/<post_number>`, as the feed's connector gives a post, and
  its time the post's `created_at`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorError
from connectors.replies._markdown import plain_markdown
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyError,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
    same_words,
    send,
)
from connectors.sources.discourse import POSTS_PER_CALL, post_id, post_url
from connectors.text import html_to_text

SOURCE = "Discourse"
_POST_ID = re.compile(r"^t/(\d+)/(\d+)$")


class DiscourseReplyOptions(ReplyOptions):
    api_key_env: str
    """env var holding an API key that may post as the brand (scopes: topics write and read)"""
    api_username_env: str
    """env var holding the username the replies are posted as (the brand's account)"""
    max_post_length: int = 32000
    """the forum's `max_post_length` setting (Admin > Settings > Posting)"""
    min_post_length: int = 20
    """the forum's `min_post_length` setting (Admin > Settings > Posting)"""


class DiscourseReplier(Replier[DiscourseReplyOptions]):
    platform = "discourse"
    max_length = 32000
    length_unit = "characters once escaped for Markdown"
    write_scopes = "an API key for the brand's user with the scopes topics: write and topics: read"

    def limit(self) -> int:
        options: DiscourseReplyOptions = self.options
        return options.max_post_length

    def length(self, text: str) -> int:
        return len(plain_markdown(text).strip())

    def check(self, text: str) -> str | None:
        problem = super().check(text)
        options: DiscourseReplyOptions = self.options
        size = self.length(text)
        if problem is None and size < options.min_post_length:
            problem = (
                f"discourse takes at least {options.min_post_length} characters (the forum's"
                f" min_post_length); this reply has {size}. Say a little more."
            )
        return problem

    def _headers(self) -> dict[str, str]:
        options: DiscourseReplyOptions = self.options
        try:
            key = require_env(options.api_key_env, "a Discourse API key that may post")
            username = require_env(options.api_username_env, "the Discourse username to post as")
        except AuthError as exc:
            raise ReplyRefused(f"{exc}: nothing was posted", kind="auth") from exc
        return {"Api-Key": key, "Api-Username": username, "Accept": "application/json"}

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        topic, number = _post(target)
        request = {
            "raw": plain_markdown(text),
            "topic_id": topic,
            "reply_to_post_number": number,
        }
        _r, body = _send(
            client, "POST", f"{self.base_url}/posts.json", json=request, headers=self._headers()
        )
        created = _json(body)
        if created.get("action") == "enqueued":
            raise ReplyUnknown(
                "the forum holds the reply for a moderator's approval: it is not public yet;"
                " it appears once approved, and nothing is posted again from Slack"
            )
        return self._posted(created, text)

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        topic, number = _post(target)
        headers = self._headers()
        username = headers["Api-Username"].lower()
        sent = _normal(plain_markdown(text))
        try:
            posts = self._brand_posts(client, topic, headers)
        except ReplyError as exc:
            raise ReplyUnknown(f"could not read the topic to look for the reply: {exc}") from exc
        for post in posts:
            answers = post.get("reply_to_post_number") or 1
            raw = post.get("raw")
            same = (
                _normal(raw) == sent
                if isinstance(raw, str)
                # rendered HTML keeps no line breaks or runs of blanks: compare words
                else same_words(html_to_text(post.get("cooked") or ""), text)
            )
            if str(post.get("username", "")).lower() == username and answers == number and same:
                found = self._posted(post, text)
                if found.created_at >= since:
                    return found
        return None

    def _brand_posts(
        self, client: httpx.Client, topic: int, headers: dict[str, str]
    ) -> list[dict[str, Any]]:
        """The brand's latest posts in the topic (the last POSTS_PER_CALL of its stream)."""
        params = {"username_filters": headers["Api-Username"], "include_raw": "1"}
        _r, body = _send(
            client, "GET", f"{self.base_url}/t/{topic}.json", params=params, headers=headers
        )
        stream = _json(body).get("post_stream")
        stream = stream if isinstance(stream, dict) else {}
        loaded = [p for p in stream.get("posts") or [] if isinstance(p, dict)]
        ids = [i for i in stream.get("stream") or [] if isinstance(i, int)][-POSTS_PER_CALL:]
        have = {p.get("id") for p in loaded}
        missing = [i for i in ids if i not in have]
        if missing:
            query = urlencode([*(("post_ids[]", i) for i in missing), ("include_raw", "1")])
            url = f"{self.base_url}/t/{topic}/posts.json?{query}"
            _r, more = _send(client, "GET", url, headers=headers)
            more_stream = _json(more).get("post_stream")
            more_posts = more_stream.get("posts") if isinstance(more_stream, dict) else None
            loaded += [p for p in more_posts or [] if isinstance(p, dict)]
        return [p for p in loaded if p.get("id") in ids] if ids else loaded

    def _posted(self, post: dict[str, Any], text: str) -> PostedReply:
        topic, number = post.get("topic_id"), post.get("post_number")
        if not isinstance(topic, int) or not isinstance(number, int):
            raise ReplyUnknown("Discourse's answer lacks the post's topic and number")
        try:
            created = _time(post.get("created_at"))
        except ValueError as exc:
            raise ReplyUnknown(f"Discourse's answer lacks the post's time ({exc})") from exc
        user_id = post.get("user_id")
        return PostedReply(
            external_id=post_id(topic, number),
            created_at=created,
            url=post_url(self.base_url, post),
            author=post.get("username"),
            author_id=None if user_id is None else str(user_id),
            text=text,
        )


def _send(
    client: httpx.Client, method: str, url: str, **request: Any
) -> tuple[httpx.Response, bytes]:
    """`send`, with the wait a 429 names in its body when it sends no Retry-After."""
    seen: dict[str, float] = {}

    def refusal(_response: httpx.Response, body: bytes) -> str | None:
        found = _object(body)
        extras = found.get("extras") if isinstance(found.get("extras"), dict) else {}
        wait = extras.get("wait_seconds") if isinstance(extras, dict) else None
        if isinstance(wait, int | float) and not isinstance(wait, bool):
            seen["wait"] = float(wait)
        errors = found.get("errors")
        words = [e for e in errors if isinstance(e, str)] if isinstance(errors, list) else []
        return "; ".join(words) or None

    try:
        return send(client, method, url, source=SOURCE, refusal=refusal, **request)
    except ReplyRefused as exc:
        wait = seen.get("wait")
        if exc.kind == "rate_limited" and exc.retry_after is None and wait is not None:
            raise ReplyRefused(
                f"{exc.message} (wait {int(wait)} s)", kind="rate_limited", retry_after=wait
            ) from exc
        raise


def _post(target: ReplyTarget) -> tuple[int, int]:
    match = _POST_ID.match(target.external_id)
    if match is None:
        raise ReplyRefused(
            f"{target.external_id} is not a Discourse post (t/topic/number): nothing was posted",
            kind="invalid",
        )
    return int(match.group(1)), int(match.group(2))


def _normal(raw: Any) -> str:
    return raw.replace("\r\n", "\n").strip() if isinstance(raw, str) else ""


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _object(body: bytes) -> dict[str, Any]:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return {}
    return found if isinstance(found, dict) else {}


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError as exc:
        raise ReplyUnknown(f"Discourse's answer could not be read ({exc})") from exc
    if not isinstance(found, dict):
        raise ReplyUnknown("Discourse's answer is not a JSON object")
    return found
