"""Instagram comments: customers' comments and replies on a professional account's media, and tags.

- Polls (Graph API, https://developers.facebook.com/docs/instagram-platform):
  GET /{ig-user-id}/media?fields=id,timestamp,comments_count,permalink,username (the newest
  `max_media`), then for each media whose `comments_count` changed since the last poll
  GET /{media-id}/comments?fields=id,text,timestamp,username,from,hidden,like_count,user,
  replies.limit(50){...} (newest first, 50 a page, at most `max_comment_pages` pages);
  a thread whose replies run past the expanded page is read on with GET /{comment-id}/replies
  (at most `max_reply_pages` pages). With "tags" in `watch`: GET /{ig-user-id}/tags (media
  where the account is tagged). Recheck: GET /{comment-id}/replies of open threads.
- Auth: an access token in the env var named by `token_env` (default INSTAGRAM_ACCESS_TOKEN):
  with Facebook Login a Page (or User) token of the Page linked to the account, host
  graph.facebook.com, permissions instagram_basic, instagram_manage_comments,
  pages_read_engagement; with Instagram Login an Instagram User token, host
  graph.instagram.com (`base_url`), permissions instagram_business_basic,
  instagram_business_manage_comments. `appsecret_proof` is sent when `app_secret_env` names
  the app secret. All through connectors.metagraph.graph_get.
- Rate limit: Instagram Platform calls count against the Business Use Case limit (4800 x the
  account's impressions a rolling 24 h); the X-Business-Use-Case-Usage / X-App-Usage headers
  are read on every answer (metagraph.usage_wait) and `not_before` holds the feed before Meta
  throttles it; error codes 4/17/32/613/80002 -> RateLimited, 190 -> AuthError (metagraph).
- Cursor: JSON {"since": newest comment or reply time seen, "ids": ids at that instant,
  "media": {media id: comments_count}, "tags_since", "tag_ids"}. A media whose count has not
  changed is not re-read; new comments on older media are seen as long as the media is among
  the newest `max_media` and the comment among its newest `max_comment_pages` x 50 threads.
- Brand reply: a reply in a comment's thread by the account itself (`user.id` or `from.id` ==
  `ig_user_id`, or the media owner's `username`) or by a configured `instagram` identity
  (a `bot` one does not stop the clock). Instagram has one level of replies: a brand reply
  answers the latest earlier customer item in the thread whose author it @mentions (the
  app pre-fills "@name" when one taps Reply), otherwise the top-level comment.
- Quirks: `mentioned_media` / `mentioned_comment` need an id from a webhook; polling sees
  only comments on the account's own media and the /tags edge (`read_mention` reads one
  webhook id). Hidden comments (by the account or Instagram's filters) are not mentions
  unless `include_hidden`: the API cannot reply to a hidden comment, so it would stay open.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import Field

from connectors import metagraph
from connectors.apijson import loads
from connectors.base import (
    BrandIdentity,
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.env import require_env
from connectors.errors import MalformedResponse, NotFoundError, RateLimited
from connectors.text import clean_text
from connectors.unreadable import Unreadable

GRAPH_VERSION = "v26.0"
COMMENT_FIELDS = "id,text,timestamp,username,from,hidden,like_count,user"
COMMENTS_PER_PAGE = 50
REPLIES_PER_PAGE = 50
TAGS_PER_PAGE = 50
MEDIA_FIELDS = "id,timestamp,comments_count,permalink,username"
TAG_FIELDS = "id,caption,timestamp,permalink,username,comments_count,media_type"
MENTIONED_COMMENT_FIELDS = "id,text,timestamp,username,like_count,media{id,permalink}"
# Instagram usernames: letters, digits, periods and underscores, up to 30
_AT_NAME = re.compile(r"@([A-Za-z0-9._]{1,30})")

Watch = Literal["comments", "tags"]
_WATCH_ALL: list[Watch] = ["comments", "tags"]


def _dict(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else (a missing or null field)."""
    return value if isinstance(value, dict) else {}


class InstagramOptions(ConnectorOptions):
    ig_user_id: str = Field(pattern=r"^[0-9]+$")
    """the professional account's Instagram user id (178414...)"""
    token_env: str = "INSTAGRAM_ACCESS_TOKEN"
    """env var holding the access token (a Page token, or an Instagram User token)"""
    app_secret_env: str | None = None
    """env var holding the Meta app secret: appsecret_proof is sent when set"""
    watch: list[Watch] = Field(default_factory=lambda: list(_WATCH_ALL), min_length=1)
    """what to read: "comments" on the account's media, "tags" (media it is tagged in)"""
    include_hidden: bool = False
    """hidden comments count as mentions too (they cannot be replied to)"""
    max_media: int = Field(default=10, ge=1, le=40)
    """the account's newest media whose comments are read each poll"""
    max_comment_pages: int = Field(default=2, ge=1, le=20)
    """pages of 50 comments read per media with new comments, newest first"""
    max_reply_pages: int = Field(default=2, ge=1, le=20)
    """pages of 50 replies read per thread"""
    recheck_limit: int = Field(default=50, ge=1, le=500)
    """open threads re-read per sweep (one call each)"""


class _NotModified(Exception):
    """A 304: no conditional request is sent, but a proxy may answer one; nothing changed."""


@dataclass
class _Cursor:
    since: str | None = None
    ids: list[str] = field(default_factory=list)
    media: dict[str, int] = field(default_factory=dict)
    tags_since: str | None = None
    tag_ids: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = loads(text)
            since = data.get("since")
            tags_since = data.get("tags_since")
            return cls(
                since=parse_time(since).isoformat() if since else None,
                ids=[str(i) for i in data.get("ids") or []],
                media={str(k): int(v) for k, v in (data.get("media") or {}).items()},
                tags_since=parse_time(tags_since).isoformat() if tags_since else None,
                tag_ids=[str(i) for i in data.get("tag_ids") or []],
            )
        except (ValueError, TypeError, AttributeError):
            return None

    def dump(self) -> str:
        data: dict[str, Any] = {"since": self.since, "ids": sorted(self.ids)}
        if self.media:
            data["media"] = self.media
        if self.tags_since:
            data["tags_since"] = self.tags_since
            data["tag_ids"] = sorted(self.tag_ids)
        return json.dumps(data, separators=(",", ":"))


class _Newest:
    """The newest time seen and the ids at that instant: the cursor's boundary."""

    def __init__(self, since: str | None, ids: Sequence[str]) -> None:
        self.start = parse_time(since) if since else None
        self.boundary = set(ids)
        self.time = self.start
        self.ids = set(ids)

    def is_new(self, item_id: str, when: datetime) -> bool:
        if self.start is None:
            return True
        return when > self.start or (when == self.start and item_id not in self.boundary)

    def saw(self, item_id: str, when: datetime) -> None:
        if self.time is None or when > self.time:
            self.time, self.ids = when, {item_id}
        elif when == self.time:
            self.ids.add(item_id)


def parse_time(value: Any) -> datetime:
    """Graph times: "2020-06-01T10:16:39+0000" (no colon in the offset), always UTC."""
    if not isinstance(value, str):
        raise ValueError("not a time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("time without zone")
    return parsed.astimezone(UTC)


@dataclass
class _Comment:
    """One comment node as the Graph API returns it."""

    id: str
    created: datetime
    text: str
    username: str | None
    author_id: str | None
    user_id: str | None
    hidden: bool
    like_count: int | None

    @classmethod
    def of(cls, node: Any) -> _Comment:
        if not isinstance(node, dict) or not _is_id(node.get("id")):
            raise MalformedResponse("Instagram comment without an id")
        try:
            created = parse_time(node.get("timestamp"))
        except ValueError as exc:
            raise MalformedResponse(f"Instagram comment {node['id']}: {exc}") from exc
        sender = _dict(node.get("from"))
        user = _dict(node.get("user"))
        username = node.get("username") or sender.get("username")
        text = node.get("text")
        likes = node.get("like_count")
        return cls(
            id=str(node["id"]),
            created=created,
            text=clean_text(text) if isinstance(text, str) else "",
            username=str(username) if username else None,
            author_id=str(sender["id"]) if sender.get("id") else None,
            user_id=str(user["id"]) if user.get("id") else None,
            hidden=node.get("hidden") is True,
            like_count=likes if isinstance(likes, int) else None,
        )

    def mentioned(self) -> set[str]:
        """The @names in the text, casefolded."""
        return {name.casefold().rstrip(".") for name in _AT_NAME.findall(self.text)}


@dataclass
class _Media:
    id: str
    permalink: str | None
    owner: str | None
    comments_count: int | None

    @classmethod
    def of(cls, node: Any) -> _Media:
        if not isinstance(node, dict) or not _is_id(node.get("id")):
            raise MalformedResponse("Instagram media without an id")
        count = node.get("comments_count")
        link = node.get("permalink")
        owner = node.get("username")
        return cls(
            id=str(node["id"]),
            permalink=link if isinstance(link, str) and link.startswith("https://") else None,
            owner=str(owner) if owner else None,
            comments_count=count if isinstance(count, int) else None,
        )

    def comment_url(self, comment_id: str) -> str | None:
        if not self.permalink:
            return None
        return f"{self.permalink.rstrip('/')}/c/{comment_id}/"


def _is_id(value: Any) -> bool:
    """An id is a non-empty string or a number: str() of an object made ids (and request
    paths) like "{'a': 1}"."""
    return (isinstance(value, str) and bool(value)) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _readable(nodes: list[Any], warnings: list[str]) -> list[_Comment]:
    """The comments of a poll's page; one that cannot be read (no id, no time) is skipped
    with a warning, so it does not fail every poll while its media stays among the newest."""
    found: list[_Comment] = []
    for node in nodes:
        try:
            found.append(_Comment.of(node))
        except MalformedResponse as exc:
            warnings.append(f"{exc}; skipped")
    return found


def _page(data: dict[str, Any], what: str) -> tuple[list[Any], str | None]:
    """The items of a Graph list answer and the cursor of the next page (None: the last)."""
    items = data.get("data")
    if not isinstance(items, list):
        raise MalformedResponse(f"{what}: not the documented list answer (no data[])")
    paging = _dict(data.get("paging"))
    cursors = _dict(paging.get("cursors"))
    after = cursors.get("after")
    more = isinstance(paging.get("next"), str) and isinstance(after, str) and after
    return items, after if more else None


class InstagramConnector(Connector[InstagramOptions]):
    """Comments and replies on a professional account's media, tags, and its replies."""

    name = "instagram"
    platform = "instagram"
    default_interval = 600  # a poll costs 1 + a call per media with new comments
    default_base_url = f"https://graph.facebook.com/{GRAPH_VERSION}"

    def __init__(self, options: InstagramOptions, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self._wait_until: datetime | None = None
        self._owner: str | None = None  # the account's username, from its media

    # -- requests ---------------------------------------------------------------------------

    def _token(self) -> str:
        return require_env(
            self.options.token_env,
            "an access token of the Instagram professional account: a Page access token "
            "of the Facebook Page linked to it (Facebook Login: instagram_basic, "
            "instagram_manage_comments, pages_read_engagement) or an Instagram User token "
            "(Instagram Login, base_url https://graph.instagram.com/...: "
            "instagram_business_basic, instagram_business_manage_comments)",
        )

    def _secret(self) -> str | None:
        if not self.options.app_secret_env:
            return None
        return require_env(
            self.options.app_secret_env,
            "the Meta app's secret (App Dashboard > App settings > Basic), for appsecret_proof",
        )

    def _get(
        self, client: httpx.Client, path: str, params: dict[str, str], now: datetime
    ) -> dict[str, Any]:
        if self._wait_until is not None and now < self._wait_until:
            raise RateLimited(
                "Instagram usage near its limit (X-Business-Use-Case-Usage): waiting",
                retry_after=(self._wait_until - now).total_seconds(),
            )
        response, data = metagraph.graph_get(
            client,
            self.base_url,
            path,
            params,
            token=self._token(),
            token_env=self.options.token_env,
            app_secret=self._secret(),
            what=f"Instagram {path}",
        )
        wait = metagraph.usage_wait(response.headers, now)
        if wait is not None and (self._wait_until is None or wait > self._wait_until):
            self._wait_until = wait
        if response.status_code == 304:
            raise _NotModified
        return data

    def not_before(self, now: datetime) -> datetime | None:
        """When the usage headers said the account's budget is nearly spent: the time Meta
        gives to regain access, so the feed slows down before it is throttled."""
        if self._wait_until is not None and self._wait_until > now:
            return self._wait_until
        return None

    # -- who speaks for the brand -------------------------------------------------------------

    def _brand(self, comment: _Comment, owner: str | None = None) -> BrandIdentity | None:
        """The identity of a brand-authored comment, or None for a customer's.

        A configured identity first (it may be marked `bot`); then the account itself: the
        `user` field (only returned for the account's own comments), `from.id`, or the
        media owner's username."""
        identity = self.brand_identity(comment.username, comment.author_id or comment.user_id)
        if identity is not None:
            return identity
        account = self.options.ig_user_id
        owner = owner or self._owner
        if account in (comment.user_id, comment.author_id) or (
            owner and comment.username and owner.casefold() == comment.username.casefold()
        ):
            return BrandIdentity(
                platform=self.platform, handle=comment.username or owner, account_id=account
            )
        return None

    # -- parsing ----------------------------------------------------------------------------

    def _mention(
        self, comment: _Comment, media: _Media | None, thread_id: str, parent: str | None
    ) -> MentionRecord:
        return MentionRecord(
            platform=self.platform,
            external_id=comment.id,
            created_at=comment.created,
            text=comment.text,
            url=media.comment_url(comment.id) if media else None,
            author=comment.username,
            author_id=comment.author_id or comment.user_id,
            parent_id=parent,
            thread_id=thread_id,
            extra={
                "kind": "reply" if parent else "comment",
                "media_id": media.id if media else None,
                "permalink": media.permalink if media else None,
                "hidden": comment.hidden,
                "like_count": comment.like_count,
            },
        )

    def thread(
        self,
        top: _Comment,
        replies: Sequence[_Comment],
        media: _Media | None,
        *,
        earlier_unseen: bool = False,
    ) -> tuple[list[MentionRecord], list[BrandReply]]:
        """The mentions and brand replies of one thread: a top-level comment and its replies.

        Customers' comments and replies are mentions (hidden ones only with
        `include_hidden`). A brand reply answers the latest earlier mention in the thread
        whose author it @mentions, otherwise the top-level comment (when a customer wrote it)."""
        owner = media.owner if media else None
        mentions: list[MentionRecord] = []
        replies_out: list[BrandReply] = []
        top_is_brand = self._brand(top, owner) is not None
        top_username = top.username
        # (time, author casefolded, id) of the customers' items a brand reply may answer
        spoken: list[tuple[datetime, str | None, str]] = []
        if not top_is_brand:
            spoken.append((top.created, top_username.casefold() if top_username else None, top.id))
            if self._counts(top):
                mentions.append(self._mention(top, media, top.id, None))
        for reply in sorted(replies, key=lambda r: (r.created, r.id)):
            identity = self._brand(reply, owner)
            if identity is None:
                if self._counts(reply):
                    mentions.append(self._mention(reply, media, top.id, top.id))
                    spoken.append(
                        (
                            reply.created,
                            reply.username.casefold() if reply.username else None,
                            reply.id,
                        )
                    )
                continue
            target = self._answers(reply, spoken, None if top_is_brand else top.id)
            if target is None:
                continue
            replies_out.append(
                BrandReply(
                    platform=self.platform,
                    external_id=reply.id,
                    in_reply_to=target,
                    created_at=reply.created,
                    author=reply.username or identity.handle,
                    author_id=reply.author_id or reply.user_id or identity.account_id,
                    url=media.comment_url(reply.id) if media else None,
                    text=reply.text,
                    bot=identity.bot,
                    earlier_unseen=earlier_unseen,
                )
            )
        return mentions, replies_out

    def _counts(self, comment: _Comment) -> bool:
        return self.options.include_hidden or not comment.hidden

    @staticmethod
    def _answers(
        reply: _Comment, spoken: Sequence[tuple[datetime, str | None, str]], top: str | None
    ) -> str | None:
        named = reply.mentioned()
        earlier = [s for s in spoken if s[0] <= reply.created and s[1] and s[1] in named]
        if earlier:
            return max(earlier, key=lambda s: s[0])[2]
        return top

    # -- poll -------------------------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        try:
            return self._poll(client, state, now)
        except _NotModified:
            return PollResult(state=state, not_modified=True)

    def _poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        saved = _Cursor.load(state.cursor)
        warnings: list[str] = []
        if state.cursor and saved is None:
            warnings.append("the saved cursor was unreadable; reading the newest media again")
        cursor = saved or _Cursor()
        result = PollResult(warnings=warnings)
        seen_mentions: set[str] = set()
        replies: dict[str, BrandReply] = {}
        if "comments" in options.watch:
            newest = _Newest(cursor.since, cursor.ids)
            counts: dict[str, int] = {}
            for media in self._recent_media(client, now):
                if media.comments_count is not None:
                    counts[media.id] = media.comments_count
                    if media.comments_count == 0:
                        continue
                    if saved and saved.media.get(media.id) == media.comments_count:
                        continue  # nothing added (or a deletion and an addition: see docs)
                for mentions, found in self._media_threads(client, media, now, warnings):
                    for mention in mentions:
                        newest.saw(mention.external_id, mention.created_at)
                        if (
                            newest.is_new(mention.external_id, mention.created_at)
                            and mention.external_id not in seen_mentions
                        ):
                            seen_mentions.add(mention.external_id)
                            result.mentions.append(mention)
                    for reply in found:
                        newest.saw(reply.external_id, reply.created_at)
                        replies[reply.external_id] = reply
            cursor.media = counts
            if newest.time is not None and newest.time > now:
                # a comment stamped ahead of our clock must not carry the cursor past unread ones
                newest.time, newest.ids = now, set()
            if newest.time is not None:
                cursor.since, cursor.ids = newest.time.isoformat(), sorted(newest.ids)
        if "tags" in options.watch:
            self._tags(client, cursor, now, result)
        result.brand_replies = list(replies.values())
        result.state = FeedCursor(cursor=cursor.dump())
        return result

    def _recent_media(self, client: httpx.Client, now: datetime) -> list[_Media]:
        data = self._get(
            client,
            f"{self.options.ig_user_id}/media",
            {"fields": MEDIA_FIELDS, "limit": str(self.options.max_media)},
            now,
        )
        items, _ = _page(data, "Instagram /media")
        media = [_Media.of(item) for item in items[: self.options.max_media]]
        owners = {m.owner for m in media if m.owner}
        if len(owners) == 1:
            self._owner = owners.pop()
        return media

    def _media_threads(
        self, client: httpx.Client, media: _Media, now: datetime, warnings: list[str]
    ) -> list[tuple[list[MentionRecord], list[BrandReply]]]:
        reply_fields = f"replies.limit({REPLIES_PER_PAGE}){{{COMMENT_FIELDS}}}"
        params = {"fields": f"{COMMENT_FIELDS},{reply_fields}", "limit": str(COMMENTS_PER_PAGE)}
        threads = []
        after: str | None = None
        for _ in range(self.options.max_comment_pages):
            page_params = {**params, "after": after} if after else params
            data = self._get(client, f"{media.id}/comments", page_params, now)
            items, after = _page(data, "Instagram /comments")
            for node in items:
                try:
                    top = _Comment.of(node)
                except MalformedResponse as exc:
                    warnings.append(f"{exc}; skipped with its replies")
                    continue
                inline = node.get("replies") if isinstance(node.get("replies"), dict) else None
                replies, cut = self._thread_replies(client, top.id, inline, now, warnings)
                threads.append(self.thread(top, replies, media, earlier_unseen=cut))
            if after is None:
                break
        if after is not None:
            warnings.append(
                f"media {media.id}: stopped after {self.options.max_comment_pages} pages of "
                "comments; older threads were not read (raise max_comment_pages)"
            )
        return threads

    def _thread_replies(
        self,
        client: httpx.Client,
        comment_id: str,
        inline: dict[str, Any] | None,
        now: datetime,
        warnings: list[str],
    ) -> tuple[list[_Comment], bool]:
        """A thread's replies: the expanded page, then GET /{comment-id}/replies pages up to
        `max_reply_pages`. True when pages were left unread (an earlier brand reply may hide
        there: its TTFR is an upper bound)."""
        if inline is None:
            return [], False
        items, after = _page(inline, "Instagram replies")
        replies = _readable(items, warnings)
        pages = 1
        while after is not None and pages < self.options.max_reply_pages:
            data = self._get(
                client,
                f"{comment_id}/replies",
                {"fields": COMMENT_FIELDS, "limit": str(REPLIES_PER_PAGE), "after": after},
                now,
            )
            items, after = _page(data, "Instagram /replies")
            replies.extend(_readable(items, warnings))
            pages += 1
        return replies, after is not None

    def _tags(
        self, client: httpx.Client, cursor: _Cursor, now: datetime, result: PollResult
    ) -> None:
        """Media the account is tagged in: each caption is a mention (its own media are not:
        a brand's tag of itself)."""
        data = self._get(
            client,
            f"{self.options.ig_user_id}/tags",
            {"fields": TAG_FIELDS, "limit": str(TAGS_PER_PAGE)},
            now,
        )
        items, _ = _page(data, "Instagram /tags")
        newest = _Newest(cursor.tags_since, cursor.tag_ids)
        for node in items:
            try:
                mention = self.tagged_media(node)
            except MalformedResponse as exc:  # one unreadable media must not stop the feed
                result.warnings.append(f"{exc}; skipped")
                continue
            if mention is None:
                continue
            new = newest.is_new(mention.external_id, mention.created_at)
            newest.saw(mention.external_id, mention.created_at)
            if new:
                result.mentions.append(mention)
        if newest.time is not None and newest.time > now:
            newest.time, newest.ids = now, set()  # a tag stamped ahead moves no cursor past now
        if newest.time is not None:
            cursor.tags_since, cursor.tag_ids = newest.time.isoformat(), sorted(newest.ids)

    def tagged_media(self, node: Any) -> MentionRecord | None:
        """A media node (/tags, or mentioned_media) as a mention: its caption is the text."""
        media = _Media.of(node)
        try:
            created = parse_time(node.get("timestamp"))
        except ValueError as exc:
            raise MalformedResponse(f"Instagram media {media.id}: {exc}") from exc
        if media.owner and self._brand(
            _Comment(media.id, created, "", media.owner, None, None, False, None)
        ):
            return None
        caption = node.get("caption")
        return MentionRecord(
            platform=self.platform,
            external_id=media.id,
            created_at=created,
            text=clean_text(caption) if isinstance(caption, str) else "",
            url=media.permalink,
            author=media.owner,
            extra={
                "kind": "tag",
                "media_type": node.get("media_type"),
                "comments_count": media.comments_count,
            },
        )

    # -- webhook ----------------------------------------------------------------------------

    def pushed(self, change: dict[str, Any], sent_at: datetime | None) -> list[MentionRecord]:
        """A customer's comment or reply from an Instagram `comments` webhook, as the poll
        would store it. The notification carries no creation time: the notification's own
        time (`entry[].time`, seconds after the comment) stands in for it. The account's own
        replies are left to the poll, which reads the thread to say what they answer; a
        `mentions` notification names an id to read, which is the poll's work too.
        https://developers.facebook.com/docs/instagram-platform/webhooks"""
        value = change.get("value")
        if change.get("field") != "comments" or not isinstance(value, dict):
            return []
        if sent_at is None or "comments" not in self.options.watch:
            return []
        try:
            comment = _Comment.of({**value, "timestamp": sent_at.isoformat()})
        except MalformedResponse:
            return []
        if self._brand(comment) is not None:
            return []
        host = _dict(value.get("media"))
        media = _Media(str(host["id"]), None, None, None) if host.get("id") else None
        parent = value.get("parent_id")
        parent = str(parent) if isinstance(parent, str | int) and parent else None
        return [self._mention(comment, media, parent or comment.id, parent)]

    # -- mentions a webhook names -------------------------------------------------------------

    def read_mention(
        self,
        client: httpx.Client,
        kind: Literal["comment", "media"],
        object_id: str,
        now: datetime,
    ) -> MentionRecord | None:
        """One @mention a `mentions` webhook named: GET /{ig-user-id}?fields=
        mentioned_comment.comment_id(ID){...} or mentioned_media.media_id(ID){...}. Polling
        cannot list these: the API reads them only by the id the webhook carries."""
        if not object_id.isdigit():
            raise ValueError("an Instagram comment or media id is digits only")
        if kind == "comment":
            fields = f"mentioned_comment.comment_id({object_id}){{{MENTIONED_COMMENT_FIELDS}}}"
        else:
            fields = f"mentioned_media.media_id({object_id}){{{TAG_FIELDS}}}"
        data = self._get(client, self.options.ig_user_id, {"fields": fields}, now)
        return self.mentioned(data)

    def mentioned(self, data: dict[str, Any]) -> MentionRecord | None:
        """The answer of `read_mention` as a mention; None when the account wrote it."""
        if isinstance(data.get("mentioned_media"), dict):
            return self._as_mention_of(data["mentioned_media"])
        node = data.get("mentioned_comment")
        if not isinstance(node, dict):
            raise NotFoundError("Instagram: no mentioned_comment or mentioned_media in the answer")
        comment = _Comment.of(node)
        if self._brand(comment) is not None:
            return None
        host = node.get("media") if isinstance(node.get("media"), dict) else None
        media = _Media.of(host) if host and host.get("id") else None
        mention = self._mention(comment, media, comment.id, None)
        mention.extra["kind"] = "mentioned_comment"
        return mention

    def _as_mention_of(self, node: dict[str, Any]) -> MentionRecord | None:
        mention = self.tagged_media(node)
        if mention is not None:
            mention.extra["kind"] = "mentioned_media"
        return mention

    # -- recheck ----------------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Brand replies in open threads whose media left the polled window: GET
        /{comment-id}/replies of each thread (the top-level comment), `recheck_limit` a sweep.
        A deleted thread is skipped; one that cannot be read is counted (Unreadable)."""
        threads: dict[str, list[MentionRecord]] = {}
        for mention in mentions:
            if mention.platform == self.platform and mention.thread_id:
                threads.setdefault(mention.thread_id, []).append(mention)
        found: list[BrandReply] = []
        unreadable = Unreadable("Instagram")
        for thread_id in list(threads)[: self.options.recheck_limit]:
            try:
                replies, cut = self._all_replies(client, thread_id, now)
            except (NotFoundError, _NotModified):
                unreadable.answered()  # deleted (or unchanged): an answer, nothing to find
                continue
            except RateLimited:
                raise
            except MalformedResponse as error:
                unreadable.skip(thread_id, error)
                continue
            unreadable.answered()
            known = threads[thread_id]
            top = next((m for m in known if m.external_id == thread_id), None)
            top_comment = _Comment(
                id=thread_id,
                created=top.created_at if top else datetime.min.replace(tzinfo=UTC),
                text=top.text if top else "",
                username=top.author if top else None,
                author_id=top.author_id if top else None,
                user_id=None,
                hidden=False,
                like_count=None,
            )
            _, brand = self.thread(top_comment, replies, None, earlier_unseen=cut)
            found.extend(brand)
        unreadable.done()
        return found

    def _all_replies(
        self, client: httpx.Client, comment_id: str, now: datetime
    ) -> tuple[list[_Comment], bool]:
        replies: list[_Comment] = []
        after: str | None = None
        for _ in range(self.options.max_reply_pages):
            params = {"fields": COMMENT_FIELDS, "limit": str(REPLIES_PER_PAGE)}
            if after:
                params["after"] = after
            data = self._get(client, f"{comment_id}/replies", params, now)
            items, after = _page(data, "Instagram /replies")
            replies.extend(_Comment.of(node) for node in items)
            if after is None:
                break
        return replies, after is not None
