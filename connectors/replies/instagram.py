"""Instagram: the brand's reply is the account's reply in the customer's comment thread.

- Comments on the account's media: POST /{ig-comment-id}/replies with `message`
  (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/
  ig-comment/replies). Instagram has one level of replies ("replies to a reply will be added
  to the top-level comment"), so the reply goes to the thread's top-level comment; answering a
  reply in that thread, it starts with "@username " (as the Instagram app pre-fills it) unless
  the text already names them, so the customer is notified and the feed's connector, which
  reads a brand reply as answering the customer it @mentions, ties it to the same comment.
- Media that @mention the account in their caption (`mentioned_media`, or a tag): POST
  /{ig-user-id}/mentions with `media_id` and `message` (https://developers.facebook.com/docs/
  instagram-platform/instagram-graph-api/reference/ig-user/mentions). Instagram allows no
  comment on a photo the account is only tagged in ("Commenting on photos in which you were
  tagged is not supported"): Meta's refusal is shown and nothing is posted.
- The answers are only {"id": ...}: the comment is read back (GET /{ig-comment-id}?fields=
  id,text,timestamp,username,from,user) for Instagram's own `timestamp`.
- Write credentials: the token of the feed's kind, with the write permission, in the env var
  named by `token_env`: a Page access token (Facebook Login, graph.facebook.com) with
  instagram_basic, instagram_manage_comments, pages_read_engagement, pages_show_list; or an
  Instagram User token (Instagram Login, graph.instagram.com) with instagram_business_basic,
  instagram_business_manage_comments. `appsecret_proof` with `app_secret_env`.
- Length: 2,200 characters (the app's comment limit; Meta documents none for the API),
  counted in code points, the "@username " included. Hidden comments and comments on a live
  video cannot be replied to (Meta refuses; nothing is posted).
- Duplicates: no idempotency key. `find_own` reads the thread's replies (GET
  /{ig-comment-id}/replies) for the account's reply with the same text at or after the
  attempt; for a media mention it cannot look (Instagram lists no comments on other
  accounts' media), and the agent is asked to check on Instagram.
- Text: posted as typed; Instagram shows comments as plain text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from pydantic import Field

from connectors.metagraph import graph_time
from connectors.replies._graph import (
    GraphAuth,
    created_id,
    graph_post,
    graph_read,
    looked,
    obj,
    read_back,
)
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyError,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
)
from connectors.sources.instagram import InstagramOptions
from connectors.text import clean_text

SOURCE = "Instagram"
FIELDS = "id,text,timestamp,username,from,user"
REPLY_PAGES = 4  # pages of 50 replies read looking for an earlier reply
# an Instagram username: letters, digits, periods and underscores, up to 30
_NAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")
_COMMENT_URL = re.compile(r"^(https://[^?#]+?)/c/[0-9]+/?$")


class InstagramReplyOptions(ReplyOptions):
    token_env: str
    """env var holding the token with instagram_manage_comments (or the Instagram Login twin)"""
    app_secret_env: str | None = None
    """env var holding the Meta app secret: appsecret_proof is sent when set"""
    max_characters: int = Field(default=2200, ge=1)
    """the longest reply posted, the "@username " of a reply in a thread included"""


class InstagramReplier(Replier[InstagramReplyOptions]):
    platform = "instagram"
    max_length = 2200
    write_scopes = (
        "instagram_basic instagram_manage_comments pages_read_engagement pages_show_list"
        " (Facebook Login), or instagram_business_basic instagram_business_manage_comments"
        " (Instagram Login)"
    )

    def limit(self) -> int:
        options: InstagramReplyOptions = self.options
        return options.max_characters

    def _auth(self) -> GraphAuth:
        options: InstagramReplyOptions = self.options
        what = f"an Instagram token ({self.write_scopes})"
        return GraphAuth.from_env(options.token_env, what, options.app_secret_env)

    def _account(self) -> str:
        feed = self.feed_options
        if not isinstance(feed, InstagramOptions):
            raise ReplyUnknown("the feed is not an Instagram feed")  # a wiring error
        return feed.ig_user_id

    def message(self, target: ReplyTarget, text: str) -> str:
        """What is posted: a reply in a thread addresses its customer by @name."""
        name = target.author or ""
        if not target.parent_id or not _NAME.match(name):
            return text
        if re.search(rf"@{re.escape(name)}(?![A-Za-z0-9_]|\.[A-Za-z0-9_])", text, re.IGNORECASE):
            return text
        return f"@{name} {text}"

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        message = self.message(target, text)
        # `check` saw the text alone: the "@username " must fit too, or nothing is sent
        problem = self.check(message) if message != text else None
        if problem is not None:
            raise ReplyRefused(
                f"{problem} The reply starts with @{target.author} to answer them in the thread.",
                kind="invalid",
            )
        auth = self._auth()
        if target.thread_id:
            url = f"{self.base_url}/{target.thread_id}/replies"
            form = {"message": message}
        else:  # a media: the account was @mentioned in its caption (or only tagged)
            url = f"{self.base_url}/{self._account()}/mentions"
            form = {"media_id": target.external_id, "message": message}
        comment_id = created_id(graph_post(client, url, form, auth=auth, source=SOURCE), SOURCE)
        comment = read_back(client, self.base_url, comment_id, FIELDS, auth=auth, source=SOURCE)
        return _posted(comment, target)

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        if not target.thread_id:
            return super().find_own(client, target, text, since)  # raises: cannot look
        account = self._account()
        wanted = clean_text(self.message(target, text))
        params = {"fields": FIELDS, "limit": "50"}
        url = f"{self.base_url}/{target.thread_id}/replies"
        try:
            auth = self._auth()
            for _ in range(REPLY_PAGES):
                data = graph_read(client, url, params, auth=auth, source=SOURCE)
                replies = data.get("data")
                for reply in replies if isinstance(replies, list) else []:
                    if isinstance(reply, dict) and _is_own(reply, account, wanted, since):
                        return _posted(reply, target)
                paging = obj(data.get("paging"))
                cursors = obj(paging.get("cursors"))
                after = cursors.get("after")
                if not paging.get("next") or not isinstance(after, str) or not after:
                    return None
                params = {**params, "after": after}
        except ReplyError as exc:
            raise looked(exc, SOURCE) from exc
        raise ReplyUnknown(
            f"Instagram: the thread has more than {REPLY_PAGES * 50} replies; check it on"
            " Instagram before replying again"
        )


def _is_own(reply: dict[str, Any], account: str, wanted: str, since: datetime) -> bool:
    user = obj(reply.get("user"))
    sender = obj(reply.get("from"))
    created = graph_time(reply.get("timestamp"))
    return (
        account in (str(user.get("id")), str(sender.get("id")))
        and clean_text(str(reply.get("text") or "")) == wanted
        and created is not None
        and created >= since
    )


def _posted(comment: dict[str, Any], target: ReplyTarget) -> PostedReply:
    comment_id = comment.get("id")
    created = graph_time(comment.get("timestamp"))
    if not isinstance(comment_id, str) or not comment_id or created is None:
        raise ReplyUnknown("Instagram's answer lacks the comment's id or time")
    sender = obj(comment.get("from"))
    user = obj(comment.get("user"))
    username = comment.get("username") or sender.get("username")
    author_id = sender.get("id") or user.get("id")
    return PostedReply(
        external_id=comment_id,
        created_at=created,
        url=_comment_url(target, comment_id),
        author=str(username) if username else None,
        author_id=str(author_id) if author_id else None,
        text=clean_text(str(comment.get("text") or "")),
    )


def _comment_url(target: ReplyTarget, comment_id: str) -> str | None:
    """The reply's address as the feed's connector builds it: the media's permalink +
    /c/{id}/, from the mention's own address."""
    if not target.url:
        return None
    if target.thread_id:
        found = _COMMENT_URL.match(target.url)
        return f"{found.group(1)}/c/{comment_id}/" if found else None
    return (
        f"{target.url.rstrip('/')}/c/{comment_id}/" if target.url.startswith("https://") else None
    )
