"""YouTube comments: new comment threads on one video or on all of a channel's videos.

- Polls: GET /commentThreads?part=snippet,replies&order=time&maxResults=100 with `videoId`
  or `allThreadsRelatedToChannelId`, plus `searchTerms` when set
  (https://developers.google.com/youtube/v3/docs/commentThreads/list); `pageToken` pages,
  newest first, until the saved position (at most `max_pages`). Recheck:
  GET /commentThreads?id=<up to 50 thread ids> and, for threads with more replies than
  the `replies` part carries, GET /comments?parentId=<thread id> (docs/comments/list),
  paged to the end (newest first: the earliest reply is on the last page), at most
  `max_reply_pages` pages per thread and `max_reply_fetches` threads per sweep.
- Auth: an API key from Google Cloud console (APIs & Services > Credentials, with
  "YouTube Data API v3" enabled on the project), in the env var named by `api_key_env`
  (default YOUTUBE_API_KEY), sent as the `key` parameter.
- Rate limit: a daily quota (10,000 units by default; each list call costs 1) that resets
  at midnight Pacific time. 403 quotaExceeded / dailyLimitExceeded -> RateLimited until that
  midnight; 403 rateLimitExceeded -> RateLimited; 400 keyInvalid and 403 forbidden /
  PERMISSION_DENIED -> AuthError saying what to fix. The error envelope is read before the
  status is judged: a plain 403 means "no permission" elsewhere but "quota" here.
- Cursor: JSON {"since": newest top-level comment publishedAt, "ids": thread ids at that
  instant}; a page is read back to it. The first run reads `backfill_pages` pages only.
  ETag: the first page's ETag is sent back as If-None-Match; a 304 costs nothing to parse.
- Brand reply: a reply (in `replies.comments[]`, or from comments.list in `recheck`) whose
  `authorChannelId.value` is a configured `youtube` identity's `id` (the brand's channel id,
  UC...), or, with `owner_is_brand = true`, the channel that owns the video
  (`snippet.channelId`, or `channel_id` for a channel feed). `in_reply_to` is the thread id,
  which is the mention's external id. Top-level comments by the brand are not mentions.
- Quirks: textDisplay is HTML, textOriginal plain: textOriginal is preferred. The replies
  part carries only some replies (`totalReplyCount` says how many exist): a brand reply
  found there, or by a walk that hit `max_reply_pages`, is `earlier_unseen` (its TTFR is an
  upper bound) until a walk to the last page proves it the first. Replies by other
  viewers are not mentions. Old (2019) payloads lack `snippet.channelId`; a video feed then
  cannot tell the owner from the payload and `owner_is_brand` needs an identity instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import Field, model_validator

from connectors.apijson import json_object, loads
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
from connectors.errors import (
    AuthError,
    ConnectorError,
    MalformedResponse,
    NotFoundError,
    RateLimited,
)
from connectors.http import check_response, fetch, parse_retry_after
from connectors.text import clean_text, html_to_text

MAX_IDS_PER_CALL = 50  # commentThreads.list?id= takes a comma-separated list of up to 50
DEFAULT_RATE_LIMIT_WAIT = 60.0
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"}
_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
_KEY_REASONS = {"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"}
_DENIED_REASONS = {
    "forbidden",
    "accessNotConfigured",
    "ipRefererBlocked",
    "SERVICE_DISABLED",
    "API_KEY_SERVICE_BLOCKED",
    "API_KEY_HTTP_REFERRER_BLOCKED",
    "API_KEY_IP_ADDRESS_BLOCKED",
}


class YouTubeOptions(ConnectorOptions):
    video_id: str | None = None
    """one video (give `video_id` or `channel_id`)"""
    channel_id: str | None = None
    """all videos of a channel (UC...)"""
    search_terms: str | None = None
    """only comments containing this text"""
    api_key_env: str = "YOUTUBE_API_KEY"
    """env var holding the YouTube Data API key"""
    owner_is_brand: bool = False
    """replies by the video's owner count as the brand's"""
    max_pages: int = Field(default=3, ge=1, le=20)
    """pages of 100 threads per poll, newest first"""
    backfill_pages: int = Field(default=1, ge=1, le=20)
    """first run: pages read"""
    recheck_limit: int = Field(default=50, ge=1, le=500)
    """open threads re-checked per sweep (50 per call)"""
    max_reply_fetches: int = Field(default=10, ge=0, le=200)
    """long threads whose replies are walked per sweep"""
    max_reply_pages: int = Field(default=20, ge=1, le=100)
    """pages of 100 replies read per long thread (1 quota unit each)"""

    @model_validator(mode="after")
    def _one_target(self) -> YouTubeOptions:
        if bool(self.video_id) == bool(self.channel_id):
            raise ValueError("give exactly one of `video_id` and `channel_id`")
        return self


@dataclass
class _Cursor:
    since: str
    ids: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = loads(text)
            since = _parse_time(data["since"]).isoformat()
            return cls(since=since, ids=[str(i) for i in data.get("ids") or []])
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def dump(self) -> str:
        return json.dumps({"since": self.since, "ids": sorted(self.ids)}, separators=(",", ":"))


@dataclass
class _Thread:
    thread_id: str
    published: datetime
    mention: MentionRecord | None
    replies: list[BrandReply]
    total_replies: int
    inline_replies: int
    owner: str | None
    video_id: str | None


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("time without zone")
    return parsed.astimezone(UTC)


def seconds_to_pacific_midnight(now: datetime) -> float:
    """The quota resets at midnight Pacific time (PST/PDT)."""
    try:
        zone: Any = ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:  # no tz database: PST is off by an hour in summer at worst
        zone = timezone(timedelta(hours=-8))
    local = now.astimezone(zone)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1.0, (midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds())


def _comment_text(snippet: dict[str, Any]) -> str:
    original = snippet.get("textOriginal")
    if isinstance(original, str):
        return clean_text(original)
    display = snippet.get("textDisplay")
    return html_to_text(display) if isinstance(display, str) else ""


def _author(snippet: dict[str, Any]) -> tuple[str | None, str | None]:
    name = snippet.get("authorDisplayName")
    channel = snippet.get("authorChannelId")
    channel_id = channel.get("value") if isinstance(channel, dict) else None
    return (
        name.strip() or None if isinstance(name, str) else None,
        channel_id if isinstance(channel_id, str) and channel_id else None,
    )


def _comment_url(video_id: str | None, channel_id: str | None, comment_id: str) -> str | None:
    if video_id:
        return f"https://www.youtube.com/watch?v={video_id}&lc={comment_id}"
    return f"https://www.youtube.com/channel/{channel_id}" if channel_id else None


class YouTubeConnector(Connector[YouTubeOptions]):
    """Top-level comments on a video or channel, and the brand's replies to them."""

    name = "youtube"
    platform = "youtube"
    default_interval = 600  # 144 list calls a day per page: the daily quota is shared
    default_base_url = "https://www.googleapis.com/youtube/v3"

    def _key(self) -> str:
        return require_env(
            self.options.api_key_env,
            "an API key created in Google Cloud console (APIs & Services > Credentials) on a "
            "project with YouTube Data API v3 enabled",
        )

    # -- requests ---------------------------------------------------------------------------

    def _call(
        self,
        client: httpx.Client,
        path: str,
        params: dict[str, str],
        now: datetime,
        headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, dict[str, Any] | None, int]:
        """One API call: (response, body object or None for a 304, bytes received)."""
        response, body = fetch(
            client,
            f"{self.base_url}/{path}",
            params={**params, "key": self._key()},
            headers=headers,
            check=None,  # the error envelope says more than the status: _api_error
        )
        if response.status_code == 304:
            return response, None, len(body)
        data = json_object(body, what=f"YouTube /{path}")
        if response.status_code >= 400:
            error = self._api_error(response, data, now)
            if error is not None:
                raise error
            check_response(response)
        if data is None or not isinstance(data.get("items"), list):
            raise MalformedResponse(f"YouTube /{path}: not the documented list response")
        return response, data, len(body)

    def _api_error(
        self, response: httpx.Response, data: dict[str, Any] | None, now: datetime
    ) -> ConnectorError | None:
        error = data.get("error") if data else None
        if not isinstance(error, dict):
            return None
        reasons = {
            str(e.get("reason"))
            for e in error.get("errors") or []
            if isinstance(e, dict) and e.get("reason")
        }
        reasons |= {
            str(d.get("reason"))
            for d in error.get("details") or []
            if isinstance(d, dict) and d.get("reason")
        }
        status = str(error.get("status") or "")
        message = html_to_text(str(error.get("message") or ""))
        text = (
            f"YouTube API {response.status_code} {'/'.join(sorted(reasons)) or status}: {message}"
        )
        key_env = self.options.api_key_env
        if reasons & _QUOTA_REASONS:
            return RateLimited(
                f"{text}; the daily quota resets at midnight Pacific time",
                retry_after=seconds_to_pacific_midnight(now),
            )
        if reasons & _RATE_REASONS or response.status_code == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimited(text, retry_after=wait or DEFAULT_RATE_LIMIT_WAIT)
        if reasons & _KEY_REASONS or "API key not valid" in message:
            return AuthError(f"{text}; the API key in {key_env} is invalid or expired: replace it")
        if (
            reasons & _DENIED_REASONS
            or status == "PERMISSION_DENIED"
            or response.status_code in (401, 403)
        ):
            if "commentsDisabled" in reasons:
                return ConnectorError(f"{text}; comments are off on this video: nothing to watch")
            return AuthError(
                f"{text}; check that YouTube Data API v3 is enabled for the project of the key "
                f"in {key_env} and that the key's restrictions allow this server"
            )
        if response.status_code == 404:
            return NotFoundError(f"{text}; check the feed's video_id / channel_id")
        if response.status_code == 400:
            return MalformedResponse(f"{text}; check the feed's options")
        return None

    # -- parsing ----------------------------------------------------------------------------

    def _is_brand(
        self, author: str | None, author_id: str | None, owner: str | None
    ) -> BrandIdentity | None:
        identity = self.brand_identity(author, author_id)
        if identity is None and self.options.owner_is_brand and owner and author_id == owner:
            identity = BrandIdentity(platform=self.platform, handle=author, account_id=owner)
        return identity

    def _thread(self, item: Any) -> _Thread:
        try:
            thread_id = str(item["id"])
            snippet = item["snippet"]
            top = snippet["topLevelComment"]["snippet"]
            published = _parse_time(top["publishedAt"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"YouTube commentThread without {exc}") from exc
        video_id = snippet.get("videoId") or top.get("videoId")
        owner = snippet.get("channelId") or self.options.channel_id
        author, author_id = _author(top)
        mention = None
        if self._is_brand(author, author_id, owner) is None:
            mention = MentionRecord(
                platform=self.platform,
                external_id=thread_id,
                created_at=published,
                text=_comment_text(top),
                url=_comment_url(video_id, owner, thread_id),
                author=author,
                author_id=author_id,
                extra={
                    "video_id": video_id,
                    "channel_id": owner,
                    "like_count": top.get("likeCount"),
                    "total_reply_count": snippet.get("totalReplyCount"),
                },
            )
        inline = (item.get("replies") or {}).get("comments") or []
        total = snippet.get("totalReplyCount")
        # the replies part carries only some of a long thread's replies: an earlier brand
        # reply may be among the others until comments.list has read them all
        partial = isinstance(total, int) and total > len(inline)
        replies = [
            r
            for r in (self._reply(c, thread_id, video_id, owner, partial) for c in inline)
            if r is not None
        ]
        return _Thread(
            thread_id=thread_id,
            published=published,
            mention=mention,
            replies=replies,
            total_replies=total if isinstance(total, int) else 0,
            inline_replies=len(inline),
            owner=owner,
            video_id=video_id,
        )

    def _reply(
        self,
        comment: Any,
        thread_id: str,
        video_id: str | None,
        owner: str | None,
        earlier_unseen: bool = False,
    ) -> BrandReply | None:
        if not isinstance(comment, dict) or not isinstance(comment.get("snippet"), dict):
            return None
        snippet = comment["snippet"]
        author, author_id = _author(snippet)
        identity = self._is_brand(author, author_id, snippet.get("channelId") or owner)
        if identity is None or not comment.get("id"):
            return None
        try:
            created = _parse_time(snippet.get("publishedAt"))
        except ValueError:
            return None
        reply_id = str(comment["id"])
        return BrandReply(
            platform=self.platform,
            external_id=reply_id,
            in_reply_to=thread_id,
            created_at=created,
            author=author,
            author_id=author_id,
            url=_comment_url(video_id or snippet.get("videoId"), owner, reply_id),
            text=_comment_text(snippet),
            bot=identity.bot,
            earlier_unseen=earlier_unseen,
        )

    # -- poll -------------------------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        saved = _Cursor.load(state.cursor)
        warnings: list[str] = []
        if state.cursor and saved is None:
            warnings.append("the saved cursor was unreadable; reading the newest page again")
        params = {"part": "snippet,replies", "order": "time", "maxResults": "100"}
        if options.video_id:
            params["videoId"] = options.video_id
        else:
            params["allThreadsRelatedToChannelId"] = options.channel_id or ""
        if options.search_terms:
            params["searchTerms"] = options.search_terms
        since = _parse_time(saved.since) if saved else None
        boundary = set(saved.ids) if saved else set()

        mentions: list[MentionRecord] = []
        replies: dict[str, BrandReply] = {}
        seen: set[str] = set()
        newest, newest_ids = since, set(boundary)
        etag: str | None = None
        received = 0
        token: str | None = None
        reached = False
        for page in range(options.max_pages if saved else options.backfill_pages):
            headers = {"If-None-Match": state.etag} if page == 0 and state.etag else None
            page_params = {**params, "pageToken": token} if token else params
            response, data, size = self._call(client, "commentThreads", page_params, now, headers)
            received += size
            if data is None:
                return PollResult(state=state, not_modified=True)
            if page == 0:
                etag = response.headers.get("ETag")
            for item in data["items"]:
                thread = self._thread(item)
                for reply in thread.replies:  # answers on old threads count too
                    replies[reply.external_id] = reply
                if since and (
                    thread.published < since
                    or (thread.published == since and thread.thread_id in boundary)
                ):
                    reached = True
                    continue
                if thread.thread_id in seen:
                    continue
                seen.add(thread.thread_id)
                if newest is None or thread.published > newest:
                    newest, newest_ids = thread.published, {thread.thread_id}
                elif thread.published == newest:
                    newest_ids.add(thread.thread_id)
                if thread.mention is not None:
                    mentions.append(thread.mention)
            token = (
                data.get("nextPageToken") if isinstance(data.get("nextPageToken"), str) else None
            )
            if not token or reached:
                break
        if saved and token and not reached:
            warnings.append(
                f"stopped after {options.max_pages} pages before the saved position; "
                "older new comments in between are skipped (raise max_pages or poll more often)"
            )
        cursor = _Cursor(since=newest.isoformat(), ids=sorted(newest_ids)) if newest else None
        return PollResult(
            mentions=mentions,
            brand_replies=list(replies.values()),
            state=FeedCursor(cursor=cursor.dump() if cursor else None, etag=etag),
            warnings=warnings,
            bytes_received=received,
        )

    # -- recheck ----------------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Replies to open threads: the replies part first, comments.list for long threads."""
        ids = [
            m.external_id
            for m in mentions
            if m.platform == self.platform and "." not in m.external_id  # replies have a dot
        ][: self.options.recheck_limit]
        if not ids or (not self.identities and not self.options.owner_is_brand):
            return []
        found: dict[str, BrandReply] = {}
        long_threads: list[_Thread] = []
        for start in range(0, len(ids), MAX_IDS_PER_CALL):
            chunk = ids[start : start + MAX_IDS_PER_CALL]
            params = {"part": "snippet,replies", "id": ",".join(chunk)}
            _, data, _ = self._call(client, "commentThreads", params, now)
            for item in (data or {}).get("items", []):
                thread = self._thread(item)
                found.update((r.external_id, r) for r in thread.replies)
                if thread.total_replies > thread.inline_replies:
                    long_threads.append(thread)
        # threads past max_reply_fetches keep their replies-part answers, marked not exact
        for thread in long_threads[: self.options.max_reply_fetches]:
            for reply in self._all_replies(client, thread, now):
                found[reply.external_id] = reply
        return list(found.values())

    def _all_replies(
        self, client: httpx.Client, thread: _Thread, now: datetime
    ) -> list[BrandReply]:
        """Every reply of one thread. comments.list answers newest first and has no order
        parameter for replies, so the earliest brand reply is on the last page: read to the
        end, up to `max_reply_pages` (its own bound: a poll's `max_pages` cut it short)."""
        params = {"part": "snippet", "parentId": thread.thread_id, "maxResults": "100"}
        comments: list[Any] = []
        token: str | None = None
        for _ in range(self.options.max_reply_pages):
            page_params = {**params, "pageToken": token} if token else params
            _, data, _ = self._call(client, "comments", page_params, now)
            comments.extend((data or {}).get("items", []))
            token = (data or {}).get("nextPageToken")
            if not isinstance(token, str) or not token:
                token = None
                break
        cut = token is not None  # stopped at the bound: older replies stay unread
        replies = (
            self._reply(c, thread.thread_id, thread.video_id, thread.owner, cut) for c in comments
        )
        return [r for r in replies if r is not None]
