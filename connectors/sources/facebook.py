"""Facebook Pages: comments and replies on a Page's posts, visitor posts, and recommendations.

- Polls (Graph API, https://developers.facebook.com/docs/graph-api/reference/page/feed):
  GET /{page-id}/feed?fields=id,created_time,updated_time,message,from,permalink_url,is_hidden
  &limit=`max_posts`: the Page's own posts AND posts by visitors (the feed holds both; the
  /visitor_posts edge is not served for Pages on the New Pages Experience). For each post
  whose `updated_time` (moved by a new comment) is at or after the cursor:
  GET /{post-id}/comments?filter=stream&order=reverse_chronological&limit=100 (every comment
  and reply, replies carrying `parent{id}`), newest first, back to the cursor, at most
  `max_comment_pages` pages. Ratings: GET /{page-id}/ratings (created_time,
  recommendation_type, review_text, reviewer, has_rating, rating, open_graph_story with its
  first comments), newest first, at most `max_rating_pages` pages of 100: Meta retired Page
  recommendations in Graph v22.0 (code 12, https://developers.facebook.com/docs/graph-api/
  reference/recommendation/), so ratings are off by default and need a base_url at v21.0 or
  older; a code 12 answer is a warning and the comments of the poll are kept. `watch` chooses
  among comments, visitor posts and ratings.
- Recheck: for an open comment, GET /{thread-root}?fields=...,comments.limit(100){...} (the
  root comment and its replies, oldest first); for an open visitor post or rating,
  GET /{id}/comments?filter=toplevel. One item gone (Graph code 100/33) is skipped.
- Auth: a Page access token (pages_read_engagement, pages_read_user_content; ratings also
  pages_read_user_content) in the env var named by `token_env` (default FACEBOOK_PAGE_TOKEN),
  sent as `access_token`; with `app_secret_env` set, `appsecret_proof` too
  (connectors/metagraph.py). Code 190 -> AuthError saying to make a new long-lived token.
- Rate limit: X-App-Usage / X-Page-Usage / X-Business-Use-Case-Usage are read after every
  call (connectors/metagraph.usage_wait): at 90 % of any budget the next poll waits
  (`not_before`: 10 min, the whole hour at 100 %, or BUC's estimated_time_to_regain_access).
  Codes 4/17/32/613/80001 -> RateLimited with that wait. The poll in progress finishes: it
  makes at most 1 + `max_posts` x `max_comment_pages` + `max_rating_pages` calls.
- Cursor: JSON {"since": newest created_time seen (comment, visitor post or rating), "ids":
  ids at that instant}. A comment on an old post is found while that post is among the newest
  `max_posts` of the feed (its updated_time moves); posts further down are not walked. The
  first run reads `backfill` back.
- Brand reply: a comment by the Page (`from.id` = `page_id`) or by a `facebook` identity. The
  Graph API nests comments two deep (a reply to a reply has the top-level comment as parent),
  so a brand comment in a thread answers every customer comment of that thread (the
  top-level comment and its replies) written since the brand's previous comment there. A
  brand top-level comment on a visitor post, or a comment on a rating's story, answers the
  post or rating. The answer to the comment a brand reply is posted under keeps the reply's
  id; its answers to the thread's other comments are `<reply id>/<answered id>` (one reply
  row per answered mention, the same ids whichever part of the thread a walk read).
- Quirks: ratings have had no stars since 2018: `recommendation_type` negative is rating 1.0,
  positive 5.0 (the 1-5 scale of the other review sources, so `max_rating` routes and the
  star report count them); an old `rating` number is kept as is. Hidden comments
  (`is_hidden`, hidden by the Page) are neither mentions (unless `include_hidden`) nor answers.
  A comment without `from` (not granted) is taken for a customer's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import Field

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
from connectors.durations import Duration
from connectors.env import require_env
from connectors.errors import MalformedResponse, NotFoundError, RateLimited
from connectors.metagraph import GraphDeprecated, graph_get, graph_time, next_page, usage_wait
from connectors.text import clean_text
from connectors.unreadable import Unreadable

Watched = Literal["comments", "visitor_posts", "ratings"]
# ratings are asked for: Graph v22.0 and later no longer serve recommendations (code 12)
DEFAULT_WATCHED: tuple[Watched, ...] = ("comments", "visitor_posts")
POST_FIELDS = "id,created_time,updated_time,message,from,permalink_url,is_hidden"
COMMENT_FIELDS = "id,message,created_time,from,parent{id},permalink_url,is_hidden,comment_count"
RATING_FIELDS = (
    "created_time,recommendation_type,review_text,reviewer,has_rating,has_review,rating,"
    f"open_graph_story{{id,message,comments.limit(25){{{COMMENT_FIELDS}}}}}"
)
THREAD_FIELDS = f"{COMMENT_FIELDS},comments.limit(100){{{COMMENT_FIELDS}}}"
# a recommendation has no stars: it counts at the ends of the 1-5 scale of the review sources
RECOMMENDATION_RATING = {"negative": 1.0, "positive": 5.0}


class FacebookOptions(ConnectorOptions):
    page_id: str = Field(min_length=1, pattern=r"^\d+$")
    """the Page's numeric id (Page > About > Page transparency, or GET /me with its token)"""
    token_env: str = "FACEBOOK_PAGE_TOKEN"
    """env var holding the Page access token"""
    app_secret_env: str | None = None
    """env var holding the app secret: appsecret_proof is sent when set"""
    watch: list[Watched] = Field(default_factory=lambda: list(DEFAULT_WATCHED), min_length=1)
    """what is a mention: comments, visitor_posts, ratings (ratings need Graph v21.0 or older)"""
    include_hidden: bool = False
    """comments the Page hid are mentions too"""
    max_posts: int = Field(default=25, ge=1, le=100)
    """newest posts of the feed read per poll; their new comments are walked"""
    max_comment_pages: int = Field(default=3, ge=1, le=50)
    """pages of 100 comments read per updated post and poll"""
    max_rating_pages: int = Field(default=1, ge=1, le=20)
    """pages of 100 ratings read per poll"""
    backfill: Duration = 86400
    """first run: how far back to read"""
    recheck_limit: int = Field(default=50, ge=1, le=500)
    """open threads re-checked per sweep (one call each)"""


class _NotModified(Exception):
    """A 304: Graph sends none unless asked, but a caching proxy may."""


@dataclass
class _Cursor:
    since: datetime
    ids: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = loads(text)
            since = graph_time(data["since"])
            if since is None:
                return None
            return cls(since=since, ids={str(i) for i in data.get("ids") or []})
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def dump(self) -> str:
        return json.dumps(
            {"since": self.since.isoformat(), "ids": sorted(self.ids)}, separators=(",", ":")
        )

    def is_new(self, created: datetime, item_id: str) -> bool:
        return created > self.since or (created == self.since and item_id not in self.ids)

    def see(self, created: datetime, item_id: str) -> None:
        if created > self.since:
            self.since, self.ids = created, {item_id}
        elif created == self.since:
            self.ids.add(item_id)


@dataclass
class _Item:
    """A comment, post or rating as a thread sees it: who wrote it and when."""

    id: str
    created: datetime
    brand: BrandIdentity | None
    hidden: bool
    parent: str | None = None
    author: str | None = None
    author_id: str | None = None
    text: str = ""
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


# feed webhook items that are a new post (a visitor's, when its `from` is not the Page)
_POST_ITEMS = {"status", "post", "photo", "video", "share"}


def _epoch(value: Any) -> datetime | None:
    """A webhook's `created_time`: epoch seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of an embedded list (`comments.data`); a number or an object there is
    no list (iterating it raised TypeError)."""
    return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []


def _list(data: dict[str, Any], what: str) -> list[dict[str, Any]]:
    items = data.get("data")
    if not isinstance(items, list):
        raise MalformedResponse(f"{what}: no `data` list")
    return [i for i in items if isinstance(i, dict)]


class FacebookConnector(Connector[FacebookOptions]):
    """Comments, visitor posts and recommendations of one Facebook Page."""

    name = "facebook"
    platform = "facebook"
    default_interval = 600
    default_base_url = "https://graph.facebook.com/v26.0"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wait_until: datetime | None = None

    # -- requests ---------------------------------------------------------------------------

    def _token(self) -> str:
        return require_env(
            self.options.token_env,
            "a Page access token with pages_read_engagement and pages_read_user_content "
            "(Graph API Explorer or GET /me/accounts with a long-lived user token)",
        )

    def _app_secret(self) -> str | None:
        if not self.options.app_secret_env:
            return None
        return require_env(
            self.options.app_secret_env, "the app secret (App Dashboard > App settings > Basic)"
        )

    def _raise_if_waiting(self, now: datetime) -> None:
        """An earlier answer's usage headers asked to wait: no call before that time (the
        pipeline keeps it from `not_before` too, for other processes)."""
        if self._wait_until is not None and now < self._wait_until:
            raise RateLimited(
                "Facebook usage reached 90 % of a budget: waiting before the next call",
                retry_after=(self._wait_until - now).total_seconds(),
            )

    def _get(
        self, client: httpx.Client, path: str, params: dict[str, str], now: datetime, what: str
    ) -> dict[str, Any]:
        response, data = graph_get(
            client,
            self.base_url,
            path,
            params,
            token=self._token(),
            token_env=self.options.token_env,
            app_secret=self._app_secret(),
            what=f"Facebook {what}",
        )
        if response.status_code == 304:
            raise _NotModified
        until = usage_wait(response.headers, now)
        if until is not None and (self._wait_until is None or until > self._wait_until):
            self._wait_until = until
        return data

    def _pages(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        now: datetime,
        what: str,
        max_pages: int,
        older_than: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Items of a newest-first list, page after page until one holds an item created
        before `older_than`, or `max_pages`: (items, whether unread pages remain)."""
        items: list[dict[str, Any]] = []
        where: tuple[str, dict[str, str]] | None = (path, params)
        for _ in range(max_pages):
            assert where is not None
            data = self._get(client, where[0], where[1], now, what)
            page = _list(data, f"Facebook {what}")
            items.extend(page)
            where = next_page(data, self.base_url, path, params)
            if where is None:
                return items, False
            if older_than is not None and any(
                (t := graph_time(i.get("created_time"))) is not None and t < older_than
                for i in page
            ):
                return items, False
        return items, where is not None

    # -- parsing ----------------------------------------------------------------------------

    def _brand(self, author: str | None, author_id: str | None) -> BrandIdentity | None:
        identity = self.brand_identity(author, author_id)
        if identity is None and author_id == self.options.page_id:
            identity = BrandIdentity(
                platform=self.platform, handle=author, account_id=self.options.page_id
            )
        return identity

    def _item(self, raw: dict[str, Any], *, author_key: str = "from") -> _Item | None:
        item_id = raw.get("id")
        created = graph_time(raw.get("created_time"))
        if not isinstance(item_id, str) or not item_id or created is None:
            return None
        who = raw.get(author_key)
        author = who.get("name") if isinstance(who, dict) else None
        author_id = who.get("id") if isinstance(who, dict) else None
        author = author.strip() or None if isinstance(author, str) else None
        author_id = str(author_id) if isinstance(author_id, str | int) and author_id else None
        parent = raw.get("parent")
        parent_id = parent.get("id") if isinstance(parent, dict) else None
        message = raw.get("message")
        url = raw.get("permalink_url")
        return _Item(
            id=item_id,
            created=created,
            brand=self._brand(author, author_id),
            hidden=raw.get("is_hidden") is True,
            parent=str(parent_id) if isinstance(parent_id, str) and parent_id else None,
            author=author,
            author_id=author_id,
            text=clean_text(message) if isinstance(message, str) else "",
            url=url if isinstance(url, str) and url.startswith("https://") else None,
            raw=raw,
        )

    def _comment_mention(self, comment: _Item, post_id: str) -> MentionRecord:
        root = comment.parent or comment.id
        return MentionRecord(
            platform=self.platform,
            external_id=comment.id,
            created_at=comment.created,
            text=comment.text,
            url=comment.url,
            author=comment.author,
            author_id=comment.author_id,
            parent_id=comment.parent or post_id,
            thread_id=root,
            extra={
                "kind": "comment",
                "post_id": post_id,
                "is_reply": comment.parent is not None,
                "is_hidden": comment.hidden,
                "comment_count": comment.raw.get("comment_count"),
            },
        )

    def _post_mention(self, post: _Item) -> MentionRecord:
        return MentionRecord(
            platform=self.platform,
            external_id=post.id,
            created_at=post.created,
            text=post.text,
            url=post.url,
            author=post.author,
            author_id=post.author_id,
            extra={"kind": "visitor_post", "is_hidden": post.hidden},
        )

    def _rating(self, raw: dict[str, Any]) -> tuple[_Item, MentionRecord] | None:
        story = raw.get("open_graph_story")
        story = story if isinstance(story, dict) else {}
        story_id = story.get("id")
        created = graph_time(raw.get("created_time"))
        if not isinstance(story_id, str | int) or not story_id or created is None:
            return None
        story_id = str(story_id)
        data: dict[str, Any] = story["data"] if isinstance(story.get("data"), dict) else {}
        kind = raw.get("recommendation_type") or data.get("recommendation_type")
        kind = str(kind).lower() if kind else None
        stars = raw.get("rating")
        if isinstance(stars, int | float) and not isinstance(stars, bool) and 1 <= stars <= 5:
            rating: float | None = float(stars)
        else:
            rating = RECOMMENDATION_RATING.get(kind or "")
        text = raw.get("review_text") or data.get("review_text") or story.get("message") or ""
        reviewer: dict[str, Any] = raw["reviewer"] if isinstance(raw.get("reviewer"), dict) else {}
        author = reviewer.get("name") if isinstance(reviewer.get("name"), str) else None
        who = reviewer.get("id")
        author_id = str(who) if isinstance(who, str | int) and who else None
        item = _Item(id=story_id, created=created, brand=None, hidden=False, raw=raw)
        mention = MentionRecord(
            platform=self.platform,
            external_id=story_id,
            created_at=created,
            text=clean_text(text) if isinstance(text, str) else "",
            url=f"https://www.facebook.com/{story_id}",
            author=author,
            author_id=author_id,
            rating=rating,
            extra={
                "kind": "rating",
                "recommendation_type": kind,
                "has_review": raw.get("has_review"),
            },
        )
        return item, mention

    # -- threads ----------------------------------------------------------------------------

    def _answers(self, thread: Iterable[_Item]) -> list[BrandReply]:
        """The brand's answers in one thread: each brand comment answers every customer item
        written since the brand's previous (non-bot) comment there. Hidden items take no part."""
        waiting: list[_Item] = []
        found: list[BrandReply] = []
        for item in sorted(thread, key=lambda i: (i.created, i.id)):
            if item.hidden:
                continue
            if item.brand is None:
                waiting.append(item)
                continue
            for answered in waiting:
                # the comment it is posted under (or the post, for a top-level one) keeps
                # the reply's id; the others get their own, the same from any window
                own = item.parent is None or answered.id == item.parent
                found.append(
                    BrandReply(
                        platform=self.platform,
                        external_id=item.id if own else f"{item.id}/{answered.id}",
                        in_reply_to=answered.id,
                        created_at=item.created,
                        author=item.author,
                        author_id=item.author_id,
                        url=item.url,
                        text=item.text,
                        bot=item.brand.bot,
                    )
                )
            if not item.brand.bot:
                # an auto-reply stops no clock (the pipeline drops bot replies): the
                # items it answered still wait for a person's answer
                waiting = []
        return found

    def _thread_answers(self, comments: Sequence[_Item], root: _Item | None) -> list[BrandReply]:
        """Answers among comments of one post: per comment thread (a top-level comment and
        its replies), and on the post itself (`root`: a visitor post) by top-level brand
        comments."""
        threads: dict[str, list[_Item]] = {}
        for comment in comments:
            threads.setdefault(comment.parent or comment.id, []).append(comment)
        found: list[BrandReply] = []
        for thread in threads.values():
            found.extend(self._answers(thread))
        if root is not None:
            top = [c for c in comments if c.parent is None and c.brand is not None]
            found.extend(self._answers([root, *top]))
        return found

    # -- webhook ----------------------------------------------------------------------------

    def pushed(self, change: dict[str, Any], sent_at: datetime | None) -> list[MentionRecord]:
        """A customer's comment, visitor post or rating from a Page webhook (`feed` and
        `ratings` fields, verb `add`), as the poll would store it, so the poll that reads it
        later finds it stored. The Page's own comments are left to the poll (it reads the
        thread to say what they answer); edits, hides and removals too.
        https://developers.facebook.com/docs/graph-api/webhooks/reference/page/#feed"""
        value = change.get("value")
        if not isinstance(value, dict) or value.get("verb") != "add":
            return []
        field_name, item = change.get("field"), value.get("item")
        created = _epoch(value.get("created_time")) or sent_at
        if created is None:
            return []
        when = created.isoformat()
        if field_name == "ratings" and item == "rating" and "ratings" in self.options.watch:
            story = value.get("open_graph_story_id")
            reviewer = {"id": value.get("reviewer_id"), "name": value.get("reviewer_name")}
            found = self._rating(
                {
                    "open_graph_story": {"id": str(story) if story else None},
                    "created_time": when,
                    "recommendation_type": value.get("recommendation_type"),
                    "review_text": value.get("review_text"),
                    "rating": value.get("rating"),
                    "reviewer": reviewer,
                }
            )
            return [found[1]] if found else []
        if field_name != "feed":
            return []
        post_id = value.get("post_id")
        if not isinstance(post_id, str) or not post_id:
            return []
        if item == "comment" and "comments" in self.options.watch:
            parent = value.get("parent_id")
            comment = self._item(
                {
                    "id": value.get("comment_id"),
                    "created_time": when,
                    "from": value.get("from"),
                    "message": value.get("message"),
                    # a top-level comment's parent is the post: no parent, as the API says
                    "parent": {"id": parent} if parent and parent != post_id else None,
                }
            )
            if comment is None or comment.brand is not None:
                return []
            return [self._comment_mention(comment, post_id)]
        if item in _POST_ITEMS and "visitor_posts" in self.options.watch:
            post = self._item(
                {
                    "id": post_id,
                    "created_time": when,
                    "from": value.get("from"),
                    "message": value.get("message"),
                }
            )
            if post is None or post.brand is not None or post.author_id is None:
                return []
            return [self._post_mention(post)]
        return []

    # -- poll -------------------------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        self._raise_if_waiting(now)
        saved = _Cursor.load(state.cursor)
        result = PollResult()
        if state.cursor and saved is None:
            result.warnings.append("the saved cursor was unreadable; reading `backfill` again")
        start = saved.since if saved else now - timedelta(seconds=options.backfill)
        cursor = _Cursor(since=start, ids=set(saved.ids) if saved else set())
        newest = _Cursor(since=cursor.since, ids=set(cursor.ids))
        replies: dict[str, BrandReply] = {}
        try:
            if "comments" in options.watch or "visitor_posts" in options.watch:
                self._poll_feed(client, now, cursor, newest, result, replies)
            if "ratings" in options.watch:
                try:
                    self._poll_ratings(client, now, cursor, newest, result, replies)
                except GraphDeprecated as exc:
                    # the comments read above are kept: one retired edge must not stop them
                    result.warnings.append(
                        f"ratings not read: {exc}. Meta retired Page recommendations in Graph "
                        'v22.0: drop "ratings" from `watch`, or set base_url to v21.0 while '
                        "Meta still serves it"
                    )
        except _NotModified:
            return PollResult(state=state, not_modified=True)
        result.brand_replies = list(replies.values())
        if newest.since > now:
            # an item stamped ahead of our clock must not carry the cursor past unread ones
            newest = _Cursor(since=now)
        result.state = FeedCursor(cursor=newest.dump())
        return result

    def _poll_feed(
        self,
        client: httpx.Client,
        now: datetime,
        cursor: _Cursor,
        newest: _Cursor,
        result: PollResult,
        replies: dict[str, BrandReply],
    ) -> None:
        options = self.options
        page_id = options.page_id
        data = self._get(
            client,
            f"{page_id}/feed",
            {"fields": POST_FIELDS, "limit": str(options.max_posts)},
            now,
            "/{page-id}/feed",
        )
        for raw in _list(data, "Facebook /{page-id}/feed"):
            post = self._item(raw)
            if post is None:
                continue
            # a post without `from` is not known to be a visitor's
            visitor = post.brand is None and post.author_id is not None
            if (
                visitor
                and "visitor_posts" in options.watch
                and cursor.is_new(post.created, post.id)
            ):
                newest.see(post.created, post.id)
                if not post.hidden or options.include_hidden:
                    result.mentions.append(self._post_mention(post))
            updated = graph_time(raw.get("updated_time")) or post.created
            if updated < cursor.since:
                continue  # no comment since the cursor
            comments = self._comments(client, post.id, now, cursor.since, result)
            if "comments" in options.watch:
                for comment in comments:
                    if comment.brand is not None or not cursor.is_new(comment.created, comment.id):
                        continue
                    newest.see(comment.created, comment.id)
                    if not comment.hidden or options.include_hidden:
                        result.mentions.append(self._comment_mention(comment, post.id))
            for reply in self._thread_answers(comments, post if visitor else None):
                replies[reply.external_id] = reply

    def _comments(
        self,
        client: httpx.Client,
        post_id: str,
        now: datetime,
        since: datetime,
        result: PollResult,
    ) -> list[_Item]:
        params = {
            "fields": COMMENT_FIELDS,
            "filter": "stream",
            "order": "reverse_chronological",
            "limit": "100",
        }
        raw, cut = self._pages(
            client,
            f"{post_id}/comments",
            params,
            now,
            "/{post-id}/comments",
            self.options.max_comment_pages,
            older_than=since,
        )
        if cut:
            result.warnings.append(
                f"post {post_id}: stopped after {self.options.max_comment_pages} pages of "
                "comments before the saved position; older new comments are skipped "
                "(raise max_comment_pages or poll more often)"
            )
        # a cursor that repeats a page (seen from proxies) must not repeat its comments
        unique = {c.id: c for c in (self._item(r) for r in raw) if c is not None}
        return list(unique.values())

    def _poll_ratings(
        self,
        client: httpx.Client,
        now: datetime,
        cursor: _Cursor,
        newest: _Cursor,
        result: PollResult,
        replies: dict[str, BrandReply],
    ) -> None:
        options = self.options
        raw, cut = self._pages(
            client,
            f"{options.page_id}/ratings",
            {"fields": RATING_FIELDS, "limit": "100"},
            now,
            "/{page-id}/ratings",
            options.max_rating_pages,
            older_than=cursor.since,
        )
        if cut:
            result.warnings.append(
                f"stopped after {options.max_rating_pages} pages of ratings before the saved "
                "position; older new ratings are skipped (raise max_rating_pages)"
            )
        seen: set[str] = set()
        for item in raw:
            read = self._rating(item)
            if read is None or read[0].id in seen:
                continue
            rating, mention = read
            seen.add(rating.id)
            if cursor.is_new(rating.created, rating.id):
                newest.see(rating.created, rating.id)
                result.mentions.append(mention)
            story = item.get("open_graph_story") or {}
            comments = story.get("comments") if isinstance(story, dict) else None
            data = comments.get("data") if isinstance(comments, dict) else None
            thread = [c for c in (self._item(r) for r in _dicts(data)) if c]
            brand = [c for c in thread if c.brand is not None]
            for reply in self._answers([rating, *brand]):
                replies[reply.external_id] = reply

    # -- recheck ----------------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Brand answers to open mentions: a comment's thread is read whole (its root and
        first 100 replies, oldest first); a visitor post's or rating's top-level comments."""
        asked = [m for m in mentions if m.platform == self.platform]
        if not asked:
            return []
        self._raise_if_waiting(now)
        roots: dict[str, MentionRecord | None] = {}  # root id -> the post or rating asked
        for mention in asked:
            if mention.thread_id:
                roots.setdefault(mention.thread_id, None)
            else:
                roots[mention.external_id] = mention
        wanted = {m.external_id for m in asked}
        unreadable = Unreadable(self.name)
        found: dict[str, BrandReply] = {}
        for root_id, post in list(roots.items())[: self.options.recheck_limit]:
            try:
                thread = (
                    self._read_thread(client, root_id, now)
                    if post is None
                    else self._read_root(client, post, now)
                )
            except (NotFoundError, _NotModified):
                unreadable.answered()  # deleted (or nothing new): the others go on
                continue
            except MalformedResponse as exc:
                unreadable.skip(root_id, exc)
                continue
            unreadable.answered()
            for reply in self._answers(thread):
                if reply.in_reply_to in wanted:
                    found[reply.external_id] = reply
        unreadable.done()
        return list(found.values())

    def _read_thread(self, client: httpx.Client, root_id: str, now: datetime) -> list[_Item]:
        data = self._get(client, root_id, {"fields": THREAD_FIELDS}, now, "/{comment-id}")
        root = self._item(data)
        if root is None:
            raise MalformedResponse(f"Facebook comment {root_id}: no id or created_time")
        replies = data.get("comments")
        raw = replies.get("data") if isinstance(replies, dict) else None
        items = [c for c in (self._item(r) for r in _dicts(raw)) if c]
        return [root, *items]

    def _read_root(self, client: httpx.Client, post: MentionRecord, now: datetime) -> list[_Item]:
        """A visitor post or rating story: the mention itself, then brand top-level comments."""
        data = self._get(
            client,
            f"{post.external_id}/comments",
            {"fields": COMMENT_FIELDS, "filter": "toplevel", "limit": "100"},
            now,
            "/{object-id}/comments",
        )
        comments = [c for c in (self._item(r) for r in _list(data, "Facebook comments")) if c]
        root = _Item(id=post.external_id, created=post.created_at, brand=None, hidden=False)
        return [root, *(c for c in comments if c.brand is not None)]

    # -- rate limit -------------------------------------------------------------------------

    def not_before(self, now: datetime) -> datetime | None:
        """The time the usage headers asked to wait for, while it is ahead."""
        return self._wait_until if self._wait_until and now < self._wait_until else None
