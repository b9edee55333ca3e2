"""Hacker News: stories and comments matching a query, through the Algolia HN Search API.

- Polls: `/search_by_date?query=..&tags=(story,comment)&numericFilters=created_at_i>T`
  on https://hn.algolia.com/api/v1 (API: https://hn.algolia.com/api), newest first.
- Auth: none.
- Rate limit: 10,000 requests an hour per IP address; a 429 (with Retry-After when given)
  raises RateLimited.
- Cursor: the newest `created_at_i` seen (epoch seconds). Each poll asks for hits newer
  than the cursor less `overlap` (the index lags the site; the pipeline dedupes by id), and
  the first run for the last `backfill`. Algolia stops paging after 50 pages (nbPages), so
  pages are not numbered: each request narrows the window to `created_at_i<=` the oldest
  hit so far, at most `max_pages` requests a poll.
- External ids are HN item ids as text ("8863"), the same for stories and comments.
- Brand reply: a comment by a configured `hn` identity (HN username). One that matches the
  query arrives in the poll with its `parent_id`; otherwise `recheck` reads the item tree
  `/items/{id}` of each open mention (bounded by `recheck_limit`) for a direct child by
  the brand. The child's parent is the node that contains it in the tree.
  An item the recheck cannot read (a 4xx, a malformed tree) is skipped and counted in a
  warning; a recheck that reads none raises the first error.
- Quirks: text is HTML (`comment_text`, `story_text`, item `text`) and is stripped to
  plain text; a story's own link goes to `extra["link"]`, the mention URL is the HN page.
  Items of the tree may have null text, title or points; deleted ones have no author.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, field_validator

from connectors.apijson import decode_json_object
from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.durations import Duration
from connectors.errors import MalformedResponse, NotFoundError
from connectors.http import fetch
from connectors.text import clean_text, html_to_text
from connectors.unreadable import Unreadable

log = logging.getLogger(__name__)

ITEM_URL = "https://news.ycombinator.com/item?id={}"


class HackerNewsOptions(ConnectorOptions):
    query: str
    """the Algolia search text, e.g. the brand name"""
    tags: str = "(story,comment)"
    """Algolia tags: \"(story,comment)\", \"story\" or \"comment\""""
    backfill: Duration = 2 * 86400.0
    """first run only: how far back to read"""
    overlap: Duration = 600.0
    """each poll looks this far behind its cursor (index lag)"""
    hits_per_page: int = Field(default=100, ge=1, le=1000)
    """hits per request"""
    max_pages: int = Field(default=10, ge=1, le=100)
    """requests per poll"""
    recheck_limit: int = Field(default=30, ge=0, le=500)
    """item trees read per recheck for brand replies"""

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name what to search for, e.g. the brand")
        return value.strip()


def _created(obj: dict[str, Any]) -> datetime:
    """`created_at_i` (epoch seconds), else the ISO `created_at`."""
    value = obj.get("created_at_i")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    text = obj.get("created_at")
    if isinstance(text, str) and text:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    raise ValueError(f"item {obj.get('objectID') or obj.get('id')} has no creation time")


MAX_TREE_NODES = 5000


def walk_children(
    root: dict[str, Any], max_nodes: int = MAX_TREE_NODES
) -> Iterator[tuple[str, Any]]:
    """(id of the containing node, child) for every node below `root` in an item tree."""
    stack = [root]
    seen = 0
    while stack and seen < max_nodes:
        node = stack.pop()
        children = node.get("children")
        if not isinstance(children, list):
            continue
        for child in children:
            if isinstance(child, dict):
                seen += 1
                yield str(node.get("id")), child
                stack.append(child)


class HackerNewsConnector(Connector[HackerNewsOptions]):
    """Hacker News stories and comments that match a query."""

    name = "hn"
    platform = "hn"
    default_interval = 300
    default_base_url = "https://hn.algolia.com/api/v1"

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        opts = self.options
        saved = int(state.cursor) if state.cursor and state.cursor.isdigit() else None
        if saved is not None:
            lower = saved - int(opts.overlap)
        else:
            lower = int(now.timestamp() - opts.backfill)
        hits: dict[str, dict[str, Any]] = {}
        upper: int | None = None
        page = 0
        received = 0
        complete = False
        for _request in range(opts.max_pages):
            filters = f"created_at_i>{lower}"
            if upper is not None:
                filters += f",created_at_i<={upper}"
            params = {
                "query": opts.query,
                "tags": opts.tags,
                "numericFilters": filters,
                "hitsPerPage": str(opts.hits_per_page),
                "page": str(page),
            }
            response, body = fetch(client, f"{self.base_url}/search_by_date", params=params)
            if response.status_code == 304:
                return PollResult(state=state, not_modified=True)
            received += len(body)
            batch = decode_json_object(body, "Algolia search_by_date").get("hits")
            if not isinstance(batch, list):
                raise MalformedResponse("Algolia search answer has no hits list")
            times = []
            for hit in batch:
                if isinstance(hit, dict) and hit.get("objectID") is not None:
                    hits.setdefault(str(hit["objectID"]), hit)
                    stamp = hit.get("created_at_i")
                    if isinstance(stamp, int):
                        times.append(stamp)
            if len(batch) < opts.hits_per_page or not times:
                complete = True
                break
            oldest = min(times)
            if upper is not None and oldest >= upper:
                page += 1  # a whole page within one second: number pages just here
            else:
                upper, page = oldest, 0
        result = PollResult(bytes_received=received)
        if not complete:
            result.warnings.append(
                f"over {opts.max_pages} pages of hits since the last poll; older ones skipped"
            )
        newest = saved if saved is not None else lower
        for hit in hits.values():
            try:
                created = _created(hit)
            except ValueError as exc:
                result.warnings.append(str(exc))
                continue
            newest = max(newest, int(created.timestamp()))
            result.add(self._item(hit, created))
        result.state = FeedCursor(cursor=str(newest))
        return result

    def _item(self, hit: dict[str, Any], created: datetime) -> MentionRecord | BrandReply | None:
        """A hit as a mention, or the brand's comment as its reply (None: a brand story)."""
        item_id = str(hit["objectID"])
        author = hit.get("author") if isinstance(hit.get("author"), str) else None
        raw_tags = hit.get("_tags")
        tags: list[Any] = raw_tags if isinstance(raw_tags, list) else []
        is_comment = "comment" in tags or hit.get("comment_text") is not None
        parent = hit.get("parent_id")
        identity = self.brand_identity(author, None)
        if identity is not None:
            if not is_comment or parent is None:
                return None
            return BrandReply(
                platform=self.platform,
                external_id=item_id,
                in_reply_to=str(parent),
                created_at=created,
                author=author,
                url=ITEM_URL.format(item_id),
                text=html_to_text(hit.get("comment_text")),
                bot=identity.bot,
            )
        if is_comment:
            text = html_to_text(hit.get("comment_text"))
            title = hit.get("story_title")
        else:
            text = html_to_text(hit.get("story_text"))
            title = hit.get("title")
        story = hit.get("story_id")
        link = hit.get("url") or hit.get("story_url")
        return MentionRecord(
            platform=self.platform,
            external_id=item_id,
            created_at=created,
            text=text,
            url=ITEM_URL.format(item_id),
            author=author,
            title=clean_text(title) if isinstance(title, str) else None,
            parent_id=str(parent) if is_comment and parent is not None else None,
            thread_id=str(story) if story is not None else item_id,
            extra={"link": link} if link else {},
        )

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Read each open mention's item tree (bounded) for a direct child by the brand."""
        if not self.identities:
            return []
        open_ids = {m.external_id for m in mentions if m.platform == self.platform}
        found: dict[str, BrandReply] = {}
        answered: set[str] = set()
        unreadable = Unreadable("hn")
        walked = 0
        for mention in mentions:
            if walked >= self.options.recheck_limit:
                break
            if mention.platform != self.platform or mention.external_id in answered:
                continue
            if not mention.external_id.isdigit():
                continue
            walked += 1
            try:
                _response, body = fetch(client, f"{self.base_url}/items/{mention.external_id}")
                tree = decode_json_object(body, "Algolia items")
            except NotFoundError as exc:
                # a deleted item: skip it, the others still count
                log.warning("hn recheck of %s skipped: %s", mention.external_id, exc)
                unreadable.answered()
                continue
            except MalformedResponse as exc:
                unreadable.skip(mention.external_id, exc)
                continue
            unreadable.answered()
            children = list(walk_children(tree, MAX_TREE_NODES))
            # a tree cut at MAX_TREE_NODES may hide an earlier brand reply
            cut = len(children) >= MAX_TREE_NODES
            for parent_id, child in children:
                if parent_id not in open_ids or child.get("id") is None:
                    continue
                author = child.get("author") if isinstance(child.get("author"), str) else None
                identity = self.brand_identity(author, None)
                if identity is None:
                    continue
                try:
                    created = _created(child)
                except ValueError:
                    continue
                reply = BrandReply(
                    platform=self.platform,
                    external_id=str(child["id"]),
                    in_reply_to=parent_id,
                    created_at=created,
                    author=author,
                    url=ITEM_URL.format(child["id"]),
                    text=html_to_text(child.get("text")),
                    bot=identity.bot,
                    earlier_unseen=cut,
                )
                found.setdefault(reply.external_id, reply)
                if not identity.bot:
                    answered.add(parent_id)
        unreadable.done()
        return sorted(found.values(), key=lambda r: r.created_at)
