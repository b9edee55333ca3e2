"""Facebook Pages: the brand's reply is a comment by the Page under the customer's comment or post.

- POST /{object-id}/comments with `message` (https://developers.facebook.com/docs/graph-api/
  reference/object/comments#publish): under a comment's thread (a top-level comment, or the
  top-level comment of a reply: Graph nests comments two deep, and the feed's connector reads
  a Page comment in a thread as answering every customer comment there), under a visitor
  post, or under a recommendation's story. The answer is only {"id": ...}: the comment is read
  back (GET /{comment-id}?fields=id,message,created_time,from,parent{id},permalink_url) for
  Facebook's own `created_time` and the comment it sits under.
- Write credentials: a Page access token of the brand's Page with pages_manage_engagement
  (posting as the Page) and pages_read_engagement (reading the comment back and looking for an
  earlier one), in the env var named by `token_env`, sent as the `access_token` form field;
  with `app_secret_env`, `appsecret_proof` too (https://developers.facebook.com/docs/
  graph-api/guides/secure-requests).
- Length: Meta documents no comment limit for the Graph API; `max_characters` (8,000 by
  default, the Facebook apps' own cut) is checked, in code points.
- Duplicates: Graph takes no idempotency key. `find_own` reads the thread
  (GET /{object-id}/comments, newest first) for the Page's comment with the same text at or
  after the attempt.
- Text: posted as typed. Facebook shows a comment as plain text (links are linked, never
  hidden behind other words); no markup is interpreted, so nothing needs escaping.
- The id: the feed's connector gives the Page's comment its own id as the answer to the
  comment it sits under (or to the post or rating), and `<comment id>/<answered id>` as the
  answer to another comment of the same thread; the writer returns the same.
"""

from __future__ import annotations

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
    ReplyTarget,
    ReplyUnknown,
)
from connectors.sources.facebook import FacebookOptions
from connectors.text import clean_text

SOURCE = "Facebook"
FIELDS = "id,message,created_time,from,parent{id},permalink_url"


class FacebookReplyOptions(ReplyOptions):
    token_env: str
    """env var holding a Page access token with pages_manage_engagement, pages_read_engagement"""
    app_secret_env: str | None = None
    """env var holding the app secret: appsecret_proof is sent when set"""
    max_characters: int = Field(default=8000, ge=1)
    """the longest comment posted (Meta documents none for the API; its apps cut at 8,000)"""


class FacebookReplier(Replier[FacebookReplyOptions]):
    platform = "facebook"
    max_length = 8000
    write_scopes = "pages_manage_engagement pages_read_engagement (a Page access token)"

    def limit(self) -> int:
        options: FacebookReplyOptions = self.options
        return options.max_characters

    def _auth(self) -> GraphAuth:
        options: FacebookReplyOptions = self.options
        what = f"a Page access token ({self.write_scopes})"
        return GraphAuth.from_env(options.token_env, what, options.app_secret_env)

    def _page_id(self) -> str | None:
        feed = self.feed_options
        return feed.page_id if isinstance(feed, FacebookOptions) else None

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        auth = self._auth()
        # a reply's thread is its top-level comment: the Page answers there
        under = target.thread_id or target.external_id
        created = graph_post(
            client,
            f"{self.base_url}/{under}/comments",
            {"message": text},
            auth=auth,
            source=SOURCE,
        )
        comment_id = created_id(created, SOURCE)
        comment = read_back(client, self.base_url, comment_id, FIELDS, auth=auth, source=SOURCE)
        return _posted(comment, target)

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        page_id = self._page_id()
        under = target.thread_id or target.external_id
        try:
            data = graph_read(
                client,
                f"{self.base_url}/{under}/comments",
                {"fields": FIELDS, "order": "reverse_chronological", "limit": "100"},
                auth=self._auth(),
                source=SOURCE,
            )
        except ReplyError as exc:
            raise looked(exc, SOURCE) from exc
        comments = data.get("data")
        wanted = clean_text(text)
        for comment in comments if isinstance(comments, list) else []:
            if not isinstance(comment, dict):
                continue
            author = comment.get("from")
            author_id = author.get("id") if isinstance(author, dict) else None
            created = graph_time(comment.get("created_time"))
            if (
                page_id is not None
                and str(author_id) == page_id
                and clean_text(str(comment.get("message") or "")) == wanted
                and created is not None
                and created >= since
            ):
                return _posted(comment, target)
        return None


def _posted(comment: dict[str, Any], target: ReplyTarget) -> PostedReply:
    """The Page's comment as the feed's connector would give its answer to `target`."""
    comment_id = comment.get("id")
    created = graph_time(comment.get("created_time"))
    if not isinstance(comment_id, str) or not comment_id or created is None:
        raise ReplyUnknown("Facebook's answer lacks the comment's id or time")
    parent = comment.get("parent")
    parent_id = parent.get("id") if isinstance(parent, dict) else None
    # the comment it sits under (or the post: no parent) keeps the reply's own id
    own = parent_id is None or parent_id == target.external_id
    author = obj(comment.get("from"))
    url = comment.get("permalink_url")
    return PostedReply(
        external_id=comment_id if own else f"{comment_id}/{target.external_id}",
        created_at=created,
        url=url if isinstance(url, str) and url.startswith("https://") else None,
        author=author.get("name") if isinstance(author.get("name"), str) else None,
        author_id=str(author["id"]) if author.get("id") else None,
        text=clean_text(str(comment.get("message") or "")),
    )
