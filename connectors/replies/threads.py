"""Threads: the brand's reply is a post of the brand's account with `reply_to_id` = the mention.

- Two steps (https://developers.facebook.com/documentation/threads/retrieve-and-manage-replies/
  create-replies): POST /{user-id}/threads with media_type=TEXT, `text`, `reply_to_id` creates
  a container ({"id": container}); GET /{container}?fields=status,error_message until it is
  FINISHED (text is usually ready at once; Meta asks to wait for the pipeline); POST
  /{user-id}/threads_publish with `creation_id` publishes it ({"id": media id}). The post is
  read back (GET /{media-id}?fields=id,text,username,timestamp,permalink,replied_to) for
  Threads' own `timestamp`.
- Exactly once: a container is never visible until published, so every failure before the
  publish call (even a lost answer to the create call) is a refusal: nothing was published,
  and a new attempt makes a new container (an orphan expires after 24 h). Only a lost answer
  to the publish call leaves the outcome unknown; `find_own` then reads the brand's replies
  (GET /{user-id}/replies) for one answering the mention with the same text at or after the
  attempt. A crash between the two calls therefore never posts twice.
- Write credentials: a Threads user access token of the brand's account with threads_basic,
  threads_content_publish, threads_manage_replies (and threads_read_replies to look for an
  earlier reply) in the env var named by `token_env`, sent as the `access_token` form field.
  Replying under a post whose thread the brand does not own also needs
  threads_keyword_search or threads_manage_mentions (Meta's rule).
- Length: 500 characters, where an emoji counts as its UTF-8 bytes, and at most 5 links
  (https://developers.facebook.com/documentation/threads/posts): both checked before posting.
  Threads allows 1,000 API-published replies per profile and 24 h.
- Text: posted as typed; Threads shows plain text.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from datetime import datetime, timedelta
from typing import Any

import httpx

from connectors.metagraph import graph_time
from connectors.replies._graph import (
    GraphAuth,
    created_id,
    graph_post,
    graph_read,
    looked,
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
from connectors.sources.threads import ThreadsOptions
from connectors.text import clean_text

SOURCE = "Threads"
FIELDS = "id,text,username,timestamp,permalink,replied_to"
MAX_LINKS = 5
# the container is asked this many times, this far apart, before giving up on it
STATUS_CHECKS = 5
STATUS_PAUSE = 2.0
# how far before the attempt the brand's replies are read back: the clocks may differ
LOOK_BACK = timedelta(minutes=5)
_LINK = re.compile(r"(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_TRAILING = re.compile(r"[.,;:!?)\]}'\"]+$")
# code points that are parts of an emoji sequence without being pictographs themselves
_JOINERS = {0x200D, 0xFE0E, 0xFE0F, 0x20E3}


def threads_length(text: str) -> int:
    """Characters as Threads counts them: an emoji (and each part of an emoji sequence:
    joiner, variation selector, skin tone, tag) counts its UTF-8 bytes, anything else 1."""
    size = 0
    for char in text:
        point = ord(char)
        if (
            point in _JOINERS
            or 0x1F3FB <= point <= 0x1F3FF
            or 0xE0020 <= point <= 0xE007F
            or unicodedata.category(char) == "So"
        ):
            size += len(char.encode("utf-8"))
        else:
            size += 1
    return size


def links(text: str) -> set[str]:
    """The distinct links in the text, as Threads counts them for its limit of 5."""
    return {_TRAILING.sub("", found).lower() for found in _LINK.findall(text)}


class ThreadsReplyOptions(ReplyOptions):
    token_env: str
    """env var holding the brand's Threads token (threads_basic threads_content_publish
    threads_manage_replies threads_read_replies)"""


class ThreadsReplier(Replier[ThreadsReplyOptions]):
    platform = "threads"
    max_length = 500
    length_unit = "characters (an emoji counts its UTF-8 bytes)"
    write_scopes = (
        "threads_basic threads_content_publish threads_manage_replies threads_read_replies"
    )
    status_checks = STATUS_CHECKS
    status_pause = STATUS_PAUSE

    def length(self, text: str) -> int:
        return threads_length(text)

    def check(self, text: str) -> str | None:
        problem = super().check(text)
        if problem is not None:
            return problem
        found = len(links(text))
        if found > MAX_LINKS:
            return f"threads takes at most {MAX_LINKS} links; this reply has {found}."
        return None

    def _auth(self) -> GraphAuth:
        options: ThreadsReplyOptions = self.options
        what = f"a Threads user access token ({self.write_scopes})"
        return GraphAuth.from_env(options.token_env, what)

    def _user(self) -> str:
        feed = self.feed_options
        return feed.user_id if isinstance(feed, ThreadsOptions) else "me"

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        auth = self._auth()
        user = self._user()
        try:
            container = created_id(
                graph_post(
                    client,
                    f"{self.base_url}/{user}/threads",
                    {"media_type": "TEXT", "text": text, "reply_to_id": target.external_id},
                    auth=auth,
                    source=SOURCE,
                ),
                SOURCE,
            )
            self._wait_until_ready(client, container, auth)
        except ReplyUnknown as exc:
            # a container is never seen until published: nothing is public yet
            raise ReplyRefused(
                f"{exc.message}. Nothing was published (the reply is published in a second"
                " step, not reached); try again",
                kind="unreachable",
            ) from exc
        published = graph_post(
            client,
            f"{self.base_url}/{user}/threads_publish",
            {"creation_id": container},
            auth=auth,
            source=SOURCE,
        )
        media_id = created_id(published, SOURCE)
        return _posted(read_back(client, self.base_url, media_id, FIELDS, auth=auth, source=SOURCE))

    def _wait_until_ready(self, client: httpx.Client, container: str, auth: GraphAuth) -> None:
        """Until the container is FINISHED; a refusal when it failed or stays in progress."""
        pause = threading.Event()
        for attempt in range(self.status_checks):
            data = graph_read(
                client,
                f"{self.base_url}/{container}",
                {"fields": "status,error_message"},
                auth=auth,
                source=SOURCE,
            )
            status = str(data.get("status") or "")
            if status == "FINISHED":
                return
            if status in ("ERROR", "EXPIRED"):
                said = data.get("error_message")
                raise ReplyRefused(
                    f"Threads could not prepare the reply ({status}"
                    + (f": {str(said)[:200]}" if said else "")
                    + "): nothing was published",
                    kind="invalid",
                )
            if attempt + 1 < self.status_checks:
                pause.wait(self.status_pause)
        raise ReplyRefused(
            "Threads is still preparing the reply: nothing was published; try again in a minute",
            kind="unreachable",
        )

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        params = {
            "fields": FIELDS,
            "since": str(int((since - LOOK_BACK).timestamp())),
            "limit": "100",
        }
        try:
            data = graph_read(
                client,
                f"{self.base_url}/{self._user()}/replies",
                params,
                auth=self._auth(),
                source=SOURCE,
            )
        except ReplyError as exc:
            raise looked(exc, SOURCE) from exc
        wanted = clean_text(text)
        replies = data.get("data")
        for reply in replies if isinstance(replies, list) else []:
            if not isinstance(reply, dict):
                continue
            answered = reply.get("replied_to")
            created = graph_time(reply.get("timestamp"))
            if (
                isinstance(answered, dict)
                and str(answered.get("id")) == target.external_id
                and clean_text(str(reply.get("text") or "")) == wanted
                and created is not None
                and created >= since
            ):
                return _posted(reply)
        return None


def _posted(media: dict[str, Any]) -> PostedReply:
    media_id = media.get("id")
    created = graph_time(media.get("timestamp"))
    if not isinstance(media_id, str) or not media_id or created is None:
        raise ReplyUnknown("Threads' answer lacks the post's id or time")
    permalink = media.get("permalink")
    username = media.get("username")
    return PostedReply(
        external_id=media_id,
        created_at=created,
        url=permalink if isinstance(permalink, str) else None,
        author=username if isinstance(username, str) else None,
        text=clean_text(str(media.get("text") or "")),
    )
