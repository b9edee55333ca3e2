"""Stack Exchange (Stack Overflow and the other sites): new questions by tag or search text.

- Polls: GET /search/advanced?site=..&tagged=..&q=..&sort=creation&order=asc&fromdate=..
  (https://api.stackexchange.com/docs/advanced-search), then, for the new questions,
  GET /questions/{ids}/answers and /questions/{ids}/comments (100 ids a call) for the
  brand's replies. `api_filter = "withbody"` (the default) returns the bodies.
- Auth: none needed for public reads. An app key (free, register at https://stackapps.com/apps/oauth/register)
  raises the daily quota from 300 to 10,000 requests per IP; put it in the env var named by
  `key_env` (e.g. STACKEXCHANGE_KEY). It is sent as the `key` parameter (not a secret by design).
- Rate limit: every response carries `quota_remaining`; at 0 we stop until the next UTC day.
  A response may carry `backoff` (seconds): no request to that method may be made before it
  has passed (https://api.stackexchange.com/docs/throttle). We stop requesting for the rest
  of the poll and keep the end of the wait in the cursor (`wait_until`) and on the instance;
  the next poll (or recheck) inside the wait raises RateLimited(retry_after=the rest of it).
  Errors come as HTTP 400 with `error_id` / `error_name` / `error_message` in the body
  (https://api.stackexchange.com/docs/error-handling): 502 throttle_violation -> RateLimited
  (the message says "more requests available in N seconds" when the quota is gone);
  401/402/403/405/406 and a rejected `key` -> AuthError; 500/503 -> TransientError.
- Cursor: JSON {"since": newest question creation_date seen, "seen": {id: creation_date} of
  the last minutes, "wait_until": epoch}. Questions are read oldest first from
  `since - 5 min` (search indexing lags a little; the seen ids drop the repeats), so a walk
  cut short by the page cap or a backoff resumes exactly where it stopped. The first run
  reads back `backfill` (default 2 days).
- Brand reply: an answer, or a comment on the question, whose owner is a configured
  `stackexchange` identity (`id` = the user_id on that site; user ids differ per site).
  `in_reply_to` is the question's id `<site>:q:<question_id>`. A brand comment addressed
  (`reply_to_user`) to someone other than the asker answers another comment, not the
  question, and is not counted. `recheck` walks answers and comments of open questions.
- Quirks: titles, names and bodies are HTML with entities (`Andr&#233; Caron`): decoded.
  Bodies are present only with a filter that includes them. Deleted users have no user_id.
  Responses are always gzip (httpx inflates them; a body whose header was lost is inflated too).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from connectors.apijson import json_object, loads
from connectors.base import (
    BrandReply,
    Connector,
    ConnectorOptions,
    FeedCursor,
    MentionRecord,
    PollResult,
)
from connectors.durations import Duration
from connectors.env import require_env
from connectors.errors import (
    AuthError,
    ConnectorError,
    MalformedResponse,
    RateLimited,
    TransientError,
)
from connectors.http import check_response, fetch, utc_from_timestamp
from connectors.text import html_to_text

# Search results show up a little after posting; re-reading this much drops nothing late.
OVERLAP_SECONDS = 300
# A "Violation of backoff parameter" error does not say how long; a minute is safe.
DEFAULT_THROTTLE_SECONDS = 60.0
MAX_IDS_PER_CALL = 100  # the API's limit for {ids} vectors
_AVAILABLE_IN = re.compile(r"available in (\d+) seconds")
_AUTH_ERRORS = {401, 402, 403, 405, 406}


class StackExchangeOptions(ConnectorOptions):
    site: str = Field(description="the site's API name: stackoverflow, superuser, askubuntu ...")
    tagged: str | list[str] | None = None
    """questions with at least one of these tags (`tagged` and/or `query`)"""
    query: str | None = None
    """free text, the API's `q`"""
    key_env: str | None = None
    """env var holding an API key: raises the daily quota from 300 to 10,000"""
    api_filter: str = "withbody"
    """the Stack Exchange API filter; the default returns question, answer and comment bodies"""
    backfill: Duration = 2 * 86400.0
    """first run only: how far back to read"""
    max_pages: int = Field(default=3, ge=1, le=25)
    """pages of 100 per poll (and per reply look-up)"""
    recheck_limit: int = Field(default=100, ge=1, le=500)
    """open questions re-checked for replies per sweep"""

    @field_validator("site")
    @classmethod
    def _site_name(cls, value: str) -> str:
        value = value.strip()
        if not value or "/" in value or " " in value:
            raise ValueError('must be a site name such as "stackoverflow"')
        return value

    @model_validator(mode="after")
    def _has_search(self) -> StackExchangeOptions:
        if not self.tags() and not (self.query or "").strip():
            raise ValueError("give `tagged` (tags, any of them) and/or `query` (search text)")
        return self

    def tags(self) -> list[str]:
        raw = self.tagged if isinstance(self.tagged, list) else (self.tagged or "").split(";")
        return [t.strip() for t in raw if t.strip()]


@dataclass
class _Cursor:
    since: int
    seen: dict[str, int] = field(default_factory=dict)
    wait_until: int | None = None

    @classmethod
    def load(cls, text: str | None) -> _Cursor | None:
        if not text:
            return None
        try:
            data = loads(text)
            wait = data.get("wait_until")
            return cls(
                since=int(data["since"]),
                seen={str(k): int(v) for k, v in dict(data.get("seen") or {}).items()},
                wait_until=int(wait) if wait is not None else None,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def dump(self) -> str:
        data: dict[str, Any] = {"since": self.since, "seen": self.seen}
        if self.wait_until is not None:
            data["wait_until"] = self.wait_until
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass
class _Question:
    """What a reply needs to know about the question it may answer."""

    owner_id: str | None
    link: str | None


@dataclass
class _Asked:
    """A new question of a search page: its id, its time, and the mention it makes (None
    when the brand asked it)."""

    qid: int
    created: int
    mention: MentionRecord | None
    question: _Question


def _text(value: Any) -> str | None:
    return (html.unescape(value).strip() or None) if isinstance(value, str) else None


def _owner(item: dict[str, Any]) -> tuple[str | None, str | None]:
    owner = item.get("owner")
    if not isinstance(owner, dict):
        return None, None
    user_id = owner.get("user_id")
    return _text(owner.get("display_name")), str(user_id) if user_id is not None else None


def _next_utc_midnight(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)


def _site_root(link: str | None) -> str | None:
    if not link:
        return None
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _chunks(ids: list[int], size: int = MAX_IDS_PER_CALL) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class StackExchangeConnector(Connector[StackExchangeOptions]):
    """New questions on one Stack Exchange site, and the brand's answers and comments on them."""

    name = "stackexchange"
    platform = "stackexchange"
    default_interval = 300
    default_base_url = "https://api.stackexchange.com/2.3"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A backoff or exhausted quota seen by poll also holds back recheck, and vice versa.
        self._wait_until: datetime | None = None
        self._bytes = 0

    # -- requests ---------------------------------------------------------------------------

    def _base_params(self) -> dict[str, str]:
        params = {"site": self.options.site, "filter": self.options.api_filter}
        if self.options.key_env:
            params["key"] = require_env(
                self.options.key_env,
                "the Stack Apps key (https://stackapps.com/apps/oauth/register), or drop `key_env`",
            )
        return params

    def _raise_if_waiting(self, now: datetime) -> None:
        if self._wait_until is not None and self._wait_until > now:
            seconds = (self._wait_until - now).total_seconds()
            raise RateLimited(
                f"Stack Exchange asked us to wait until {self._wait_until.isoformat()}",
                retry_after=seconds,
            )

    def _paused(self, now: datetime) -> bool:
        return self._wait_until is not None and self._wait_until > now

    def not_before(self, now: datetime) -> datetime | None:
        """The end of a backoff or of a spent daily quota (kept by the pipeline with the
        feed's state, so another worker's poll or recheck waits for it too)."""
        return self._wait_until if self._paused(now) else None

    def _wait(self, until: datetime) -> None:
        if self._wait_until is None or until > self._wait_until:
            self._wait_until = until

    def _call(
        self, client: httpx.Client, path: str, params: dict[str, str], now: datetime
    ) -> dict[str, Any] | None:
        """One API call; None for a 304. Records backoff and quota before returning."""
        response, body = fetch(client, f"{self.base_url}/{path}", params=params, check=None)
        self._bytes += len(body)
        if response.status_code == 304:
            return None
        wrapper = json_object(body, what=f"Stack Exchange /{path}")
        if wrapper is not None and wrapper.get("error_id") is not None:
            error = self._api_error(wrapper)
            if isinstance(error, RateLimited) and error.retry_after:
                self._wait(now + timedelta(seconds=error.retry_after))
            raise error
        check_response(response)  # statuses without the documented envelope (429, 5xx ...)
        if wrapper is None or not isinstance(wrapper.get("items"), list):
            raise MalformedResponse(f"Stack Exchange /{path}: not the documented JSON wrapper")
        backoff = wrapper.get("backoff")
        if isinstance(backoff, int | float) and backoff > 0:
            self._wait(now + timedelta(seconds=float(backoff)))
        if wrapper.get("quota_remaining") == 0:
            self._wait(_next_utc_midnight(now))
        return wrapper

    def _api_error(self, wrapper: dict[str, Any]) -> ConnectorError:
        error_id = wrapper.get("error_id")
        name = str(wrapper.get("error_name") or "")
        message = str(wrapper.get("error_message") or "")
        text = f"Stack Exchange error {error_id} {name}: {message}"
        if error_id == 502 or name == "throttle_violation":
            match = _AVAILABLE_IN.search(message)
            wait = float(match.group(1)) if match else DEFAULT_THROTTLE_SECONDS
            return RateLimited(text, retry_after=wait)
        if error_id in (500, 503):
            return TransientError(text)
        key_hint = (
            f"check the key in {self.options.key_env}"
            if self.options.key_env
            else "public reads need no key"
        )
        if error_id in _AUTH_ERRORS:
            return AuthError(f"{text}; {key_hint}")
        if error_id == 400 and re.search(r"\bkey\b", message, re.IGNORECASE):
            return AuthError(f"{text}; the app key was rejected: {key_hint}")
        if error_id == 400:
            return MalformedResponse(f"{text}; check the feed's site, tagged, query and api_filter")
        return MalformedResponse(text)

    # -- poll -------------------------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        options = self.options
        saved = _Cursor.load(state.cursor)
        warnings: list[str] = []
        if state.cursor and saved is None:
            warnings.append("the saved cursor was unreadable; reading back the backfill window")
        if saved and saved.wait_until:
            self._wait(utc_from_timestamp(saved.wait_until))
        self._raise_if_waiting(now)
        params = self._base_params()
        if saved:
            since, seen = saved.since, dict(saved.seen)
            floor: int | None = since - OVERLAP_SECONDS
            params["fromdate"] = str(floor)
        else:
            since, seen = int((now - timedelta(seconds=options.backfill)).timestamp()), {}
            floor = None  # the first run takes what the window search returns
            params["fromdate"] = str(since)
        params.update(sort="creation", order="asc", pagesize="100")
        if options.tags():
            params["tagged"] = ";".join(options.tags())
        if options.query:
            params["q"] = options.query.strip()

        mentions: list[MentionRecord] = []
        questions: dict[int, _Question] = {}
        self._bytes = 0
        for page in range(1, options.max_pages + 1):
            wrapper = self._call(client, "search/advanced", {**params, "page": str(page)}, now)
            if wrapper is None:
                return PollResult(state=state, not_modified=True)
            for item in wrapper["items"]:
                asked = self._question(item, floor, seen)
                if isinstance(asked, str):
                    warnings.append(asked)
                elif asked is not None:
                    seen[str(asked.qid)] = asked.created
                    if asked.mention is not None:
                        mentions.append(asked.mention)
                        questions[asked.qid] = asked.question
            if not wrapper.get("has_more"):
                break
            if self._paused(now):
                warnings.append("Stack Exchange asked for a backoff; the rest waits for next poll")
                break
        else:
            warnings.append(f"stopped after {options.max_pages} pages; the rest comes next poll")

        replies: list[BrandReply] = []
        if questions and not self._paused(now):
            replies = self._replies(client, questions, now)
        newest = max([since, *seen.values()])
        keep = {k: v for k, v in seen.items() if v >= newest - OVERLAP_SECONDS}
        wait = int(self._wait_until.timestamp()) if self._paused(now) and self._wait_until else None
        cursor = _Cursor(since=newest, seen=keep, wait_until=wait)
        return PollResult(
            mentions=mentions,
            brand_replies=replies,
            state=FeedCursor(cursor=cursor.dump()),
            warnings=warnings,
            bytes_received=self._bytes,
        )

    def _question(
        self, item: Any, floor: int | None, seen: Mapping[str, int]
    ) -> _Asked | str | None:
        """A search item as a new question, a warning (str), or None (a repeat, too old)."""
        if not isinstance(item, dict):
            raise MalformedResponse("Stack Exchange search: an item is not an object")
        qid, created = item.get("question_id"), item.get("creation_date")
        if not isinstance(qid, int) or not isinstance(created, int):
            return "skipped a question without question_id or creation_date"
        if str(qid) in seen or (floor is not None and created < floor):
            return None  # a repeat, or older than asked for: handled by an earlier poll
        author, author_id = _owner(item)
        link = item.get("link") if isinstance(item.get("link"), str) else None
        question = _Question(owner_id=author_id, link=link)
        if self.brand_identity(author, author_id):
            return _Asked(qid, created, None, question)  # the brand asking is not a mention
        tags = item.get("tags") if isinstance(item.get("tags"), list) else []
        mention = MentionRecord(
            platform=self.platform,
            external_id=f"{self.options.site}:q:{qid}",
            created_at=utc_from_timestamp(created),
            text=html_to_text(item.get("body")) if isinstance(item.get("body"), str) else "",
            url=link,
            author=author,
            author_id=author_id,
            title=_text(item.get("title")),
            extra={
                "site": self.options.site,
                "tags": tags,
                "answer_count": item.get("answer_count"),
                "is_answered": item.get("is_answered"),
            },
        )
        return _Asked(qid, created, mention, question)

    # -- brand replies ----------------------------------------------------------------------

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Answers and comments on open questions, up to `recheck_limit` questions a call."""
        prefix = f"{self.options.site}:q:"
        questions: dict[int, _Question] = {}
        for mention in mentions:
            if mention.platform != self.platform or not mention.external_id.startswith(prefix):
                continue
            qid = mention.external_id[len(prefix) :]
            if qid.isdigit():
                questions[int(qid)] = _Question(owner_id=mention.author_id, link=mention.url)
            if len(questions) >= self.options.recheck_limit:
                break
        if not questions:
            return []
        self._raise_if_waiting(now)
        return self._replies(client, questions, now)

    def _replies(
        self, client: httpx.Client, questions: dict[int, _Question], now: datetime
    ) -> list[BrandReply]:
        if not self.identities:
            return []  # nobody to look for: save the quota
        params = {**self._base_params(), "sort": "creation", "order": "asc", "pagesize": "100"}
        replies: dict[str, BrandReply] = {}
        for ids in _chunks(sorted(questions)):
            joined = ";".join(str(i) for i in ids)
            for kind in ("answers", "comments"):
                for page in range(1, self.options.max_pages + 1):
                    if self._paused(now):
                        return list(replies.values())
                    path = f"questions/{joined}/{kind}"
                    wrapper = self._call(client, path, {**params, "page": str(page)}, now)
                    if wrapper is None:
                        break
                    for item in wrapper["items"]:
                        reply = self._reply(item, kind, questions)
                        if reply is not None:
                            replies[reply.external_id] = reply
                    if not wrapper.get("has_more"):
                        break
        return list(replies.values())

    def _reply(self, item: Any, kind: str, questions: dict[int, _Question]) -> BrandReply | None:
        if not isinstance(item, dict):
            raise MalformedResponse(f"Stack Exchange {kind}: an item is not an object")
        author, author_id = _owner(item)
        identity = self.brand_identity(author, author_id)
        created = item.get("creation_date")
        if identity is None or not isinstance(created, int):
            return None
        site = self.options.site
        if kind == "answers":
            qid, own_id = item.get("question_id"), item.get("answer_id")
            question = questions.get(qid) if isinstance(qid, int) else None
            root = _site_root(question.link if question else None)
            url = f"{root}/a/{own_id}" if root else None
            external_id = f"{site}:a:{own_id}"
        else:
            qid, own_id = item.get("post_id"), item.get("comment_id")
            question = questions.get(qid) if isinstance(qid, int) else None
            addressed = item.get("reply_to_user")
            if (
                isinstance(addressed, dict)
                and question
                and question.owner_id
                and str(addressed.get("user_id")) != question.owner_id
            ):
                return None  # an answer to another commenter, not to the asker
            link = question.link if question else None
            url = f"{link}#comment{own_id}_{qid}" if link else None
            external_id = f"{site}:c:{own_id}"
        if not isinstance(qid, int) or own_id is None:
            return None
        body = item.get("body")
        return BrandReply(
            platform=self.platform,
            external_id=external_id,
            in_reply_to=f"{site}:q:{qid}",
            created_at=utc_from_timestamp(created),
            author=author,
            author_id=author_id,
            url=url,
            text=html_to_text(body) if isinstance(body, str) else None,
            bot=identity.bot,
        )
