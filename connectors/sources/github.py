"""GitHub issues: a search across GitHub, or every new issue of one repository.

- Polls: `query` mode: GET /search/issues?q=<query> is:issue created:>=<since>&sort=created
  &order=desc; `repo` mode: GET /repos/{owner}/{repo}/issues?state=all&sort=created
  &direction=desc&since=<since>, plus ONE call per cycle for the brand's activity:
  GET /repos/{owner}/{repo}/issues/comments?sort=updated&direction=asc&since=<since>.
  Pages follow the Link header rel="next" (at most `max_pages`, never to another host).
  https://docs.github.com/rest/search/search#search-issues-and-pull-requests,
  https://docs.github.com/rest/issues/issues#list-repository-issues,
  https://docs.github.com/rest/issues/comments#list-issue-comments-for-a-repository
- Auth: optional but strongly advised: a token (fine-grained with "Issues: read", or a
  classic one; https://github.com/settings/tokens) in the env var named by `token_env`.
  GitHub Enterprise Server: set `base_url = "https://ghe.example.com/api/v3"`.
- Rate limit: 5000 requests/hour with a token, 60 without; search 30/minute (10 without).
  Primary limit: 403 or 429 with `X-RateLimit-Remaining: 0`, wait until `X-RateLimit-Reset`;
  secondary limit: 403 or 429 with `Retry-After`, or a body saying "rate limit" / "abuse"
  (60 s when nothing says how long). All of them are RateLimited, never AuthError.
- Cursor: the newest issue creation time seen (`YYYY-MM-DDTHH:MM:SSZ`); in repo mode a space
  and the newest comment update time follow. Both only grow. The first run looks back
  `backfill` only. The ETag of the issue request is kept: a 304 costs no rate limit.
- Brand reply: an issue comment whose author's login (or numeric id) is a configured `github`
  identity; `author_association` alone proves nothing. Comments by `user.type == "Bot"`
  accounts are returned with bot=True (they never stop the clock), even when the identity
  is configured without `bot = true`. In repo mode the poll sees them; in query mode
  `recheck` reads GET /repos/{o}/{r}/issues/{n}/comments for open mentions (bounded), in
  pages of 100 following the Link header, at most `max_pages` per issue. A deleted issue
  is skipped, an unreadable one skipped and counted (connectors/unreadable.py).
- Ids: an issue is `owner/repo#number`; a comment is `owner/repo#number/comment/<id>` and
  its `in_reply_to` is its issue's id.
- Quirks: the issues list includes pull requests (skipped unless `include_pulls`); `since`
  filters by update time, not creation, so results are cut at the cursor by creation time;
  the search index lags minutes behind, so query mode re-asks a `search_overlap` window and
  the store dedupes; search returns at most 1000 results; issues opened by bots are skipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from connectors.apijson import decode_json, loads
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
from connectors.errors import AuthError, MalformedResponse, NotFoundError, RateLimited
from connectors.http import MAX_RETRY_AFTER, check_response, fetch, parse_retry_after
from connectors.text import clean_text, html_to_text
from connectors.unreadable import Unreadable

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
PER_PAGE = 100
# GitHub asks clients to wait at least a minute after a secondary limit that names no time.
DEFAULT_RATE_LIMIT_WAIT = 60.0
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ISSUE_API_URL = re.compile(r"/repos/([^/]+)/([^/]+)/issues/(\d+)$")
_REPO_API_URL = re.compile(r"/repos/([^/]+)/([^/]+)$")
_ISSUE_ID = re.compile(r"^([^/#\s]+)/([^/#\s]+)#(\d+)$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class GitHubOptions(ConnectorOptions):
    query: str | None = None
    """issue search, e.g. `acme in:title,body` (give `query` or `repo`)"""
    repo: str | None = None
    """one repository's issues, `owner/name`"""
    include_pulls: bool = False
    """pull requests count as mentions too"""
    token_env: str | None = None
    """env var holding a token (advised: unauthenticated is 60 requests an hour)"""
    backfill: Duration = 2 * 86400.0
    """first run only: how far back to read"""
    search_overlap: Duration = 600.0
    """query mode: look this far behind the cursor (search index lag)"""
    max_pages: int = Field(default=5, ge=1, le=10)
    """pages of 100 per request kind per poll (and per issue a recheck reads)"""
    max_rechecks: int = Field(default=30, ge=0, le=200)
    """query mode: issues whose comments one recheck reads"""

    @field_validator("repo")
    @classmethod
    def _owner_slash_name(cls, value: str | None) -> str | None:
        if value is not None and not _REPO.match(value):
            raise ValueError('must be "owner/name"')
        return value

    @model_validator(mode="after")
    def _one_mode(self) -> GitHubOptions:
        if bool(self.query) == bool(self.repo):
            raise ValueError("give exactly one of `query` (a GitHub search) or `repo`")
        return self


class SearchRefused(MalformedResponse):
    """A 422: GitHub cannot run the search (a qualifier naming an unknown user, a syntax)."""


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponse(f"GitHub sent a time that is not text: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedResponse(f"GitHub sent an unreadable time {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def _split_cursor(cursor: str | None) -> tuple[datetime | None, datetime | None]:
    """The cursor is "<issues time>" or "<issues time> <comments time>"; junk reads as none."""
    parts = (cursor or "").split()
    times: list[datetime | None] = []
    for index in range(2):
        try:
            times.append(_time(parts[index]) if index < len(parts) else None)
        except MalformedResponse:
            times.append(None)
    return times[0], times[1]


def issue_ref_from_api_url(url: str) -> str | None:
    """https://api.github.com/repos/o/r/issues/7 -> "o/r#7" (also GHES .../api/v3/...)."""
    match = _ISSUE_API_URL.search(urlsplit(url).path)
    return f"{match.group(1)}/{match.group(2)}#{match.group(3)}" if match else None


def rate_limit_wait(response: httpx.Response, body: bytes) -> float | None:
    """Seconds to wait when `response` is one of GitHub's rate limits (a 429, or a 403 that
    says so), else None. Primary limit: `X-RateLimit-Remaining: 0`, wait until
    `X-RateLimit-Reset`; secondary: `Retry-After`, or words ("rate limit", "abuse") and 60 s."""
    status = response.status_code
    headers = response.headers
    lowered = body[:4096].decode("utf-8", "replace").lower()
    retry_after = parse_retry_after(headers.get("Retry-After"))
    exhausted = headers.get("X-RateLimit-Remaining") == "0"
    if not (
        status == 429
        or (
            status == 403
            and (
                retry_after is not None
                or exhausted
                or "rate limit" in lowered
                or "abuse" in lowered
            )
        )
    ):
        return None
    reset = headers.get("X-RateLimit-Reset")
    if retry_after is None and exhausted and reset and reset.isdigit():
        now = datetime.now(UTC).timestamp()
        retry_after = max(0.0, min(float(reset) - now, MAX_RETRY_AFTER))
    return DEFAULT_RATE_LIMIT_WAIT if retry_after is None else retry_after


def _raise_refusal(response: httpx.Response, body: bytes, token_env: str | None) -> None:
    """403/429/401/422 with what GitHub means by them; rate limits are never AuthError."""
    status = response.status_code
    text = body[:4096].decode("utf-8", "replace")
    wait = rate_limit_wait(response, body)
    if wait is not None:
        which = "primary" if response.headers.get("X-RateLimit-Remaining") == "0" else "secondary"
        raise RateLimited(f"GitHub {which} rate limit ({status}), waiting", retry_after=wait)
    where = f"the token in {token_env}" if token_env else "no token (set `token_env`)"
    if status == 401:
        raise AuthError(f"GitHub rejected {where} (401): create a new token and set it")
    if status == 403:
        raise AuthError(
            f"GitHub refused access with {where} (403): give the token read access to "
            "the repository's issues (fine-grained: Issues read; classic: public_repo or repo)"
        )
    if status == 422:
        message = _message(text)
        raise SearchRefused(f"GitHub refused the search (422): {message}; check `query`")


def _message(text: str) -> str:
    """GitHub's message, and what its `errors` say (a 422 names the refused part there)."""
    try:
        data = loads(text)
    except ValueError:
        return text[:200]
    if not isinstance(data, dict):
        return text[:200]
    errors = data.get("errors")
    said = [str(data.get("message", ""))]
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and error.get("message"):
            said.append(str(error["message"]))
    return ": ".join(m for m in said if m)[:300]


def github_get(
    client: httpx.Client,
    url: str,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    token_env: str | None = None,
) -> tuple[httpx.Response, bytes]:
    """GET with GitHub's refusals read first, then the shared status table and body cap.

    The shared status table would call a secondary-limit 403 an AuthError: it cannot see
    the body or Retry-After before deciding, so this reads them here.
    """
    response, body = fetch(client, url, params=params, headers=headers, check=None)
    if response.status_code in (401, 403, 422, 429):
        _raise_refusal(response, body[:65536], token_env)
    check_response(response)
    return response, body


@dataclass
class _IssuePages:
    """Issue pages read back to a floor: the items, the first page's ETag, whether anything
    changed since that ETag, the bytes read, and what to tell the operator."""

    items: list[dict[str, Any]] = field(default_factory=list)
    etag: str | None = None
    modified: bool = True
    bytes_received: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class _RepoComments:
    """A repository's comments updated since the cursor: the brand's replies among them, the
    newest update time, whether any page was new, the bytes read, and warnings."""

    replies: list[BrandReply] = field(default_factory=list)
    newest: datetime | None = None
    modified: bool = False
    bytes_received: int = 0
    warnings: list[str] = field(default_factory=list)


class GitHubConnector(Connector[GitHubOptions]):
    """Issues from a GitHub search or one repository, and the brand's comments on them."""

    name = "github"
    platform = "github"
    default_interval = 300
    default_base_url = "https://api.github.com"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # GitHub refused the search with the filters' accounts added: sent without them since
        self._narrowing_refused = False

    def _narrowing_terms(self) -> list[str]:
        """The feed's narrowing as qualifiers of the issue search (query mode): `author:a`
        and `-author:b`, "created by" / not created by that login (docs.github.com/
        search-github/searching-on-github/searching-issues-and-pull-requests#search-by-author).
        The brand's replies are comments, read by `recheck`, so no filter hides them."""
        if not self.options.query or self._narrowing_refused:
            return []
        return [f"author:{a}" for a in self.narrowing.authors] + [
            f"-author:{a}" for a in self.narrowing.not_authors
        ]

    def sent_narrowing(self) -> str:
        return " ".join(self._narrowing_terms())

    def _search_params(self, query: str, floor: datetime) -> dict[str, str]:
        terms = " ".join([query, *self._narrowing_terms()])
        return {
            "q": f"{terms} created:>={_stamp(floor)}",
            "sort": "created",
            "order": "desc",
            "per_page": str(PER_PAGE),
        }

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        env = self.options.token_env
        if env:
            token = require_env(
                env, "a GitHub token (https://github.com/settings/tokens, read access to issues)"
            )
            headers["Authorization"] = f"Bearer {token}"
        return headers

    # ---- poll ---------------------------------------------------------------------------

    def poll(self, client: httpx.Client, state: FeedCursor, now: datetime) -> PollResult:
        headers = self._headers()
        issues_mark, comments_mark = _split_cursor(state.cursor)
        window_start = now - timedelta(seconds=self.options.backfill)
        since = issues_mark or window_start
        result = PollResult(state=state)
        if not self.options.token_env:
            result.warnings.append("no token_env: unauthenticated, 60 requests per hour")

        if self.options.query:
            floor = since - timedelta(seconds=self.options.search_overlap) if issues_mark else since
            url = f"{self.base_url}/search/issues"
            kind = "is:pr" if "is:pr" in self.options.query else "is:issue"
            query = (
                self.options.query if self.options.include_pulls else f"{self.options.query} {kind}"
            )
            params = self._search_params(query, floor)
        else:
            floor = since
            url = f"{self.base_url}/repos/{self.options.repo}/issues"
            params = {
                "state": "all",
                "sort": "created",
                "direction": "desc",
                "since": _stamp(floor),
                "per_page": str(PER_PAGE),
            }
        first_headers = dict(headers)
        if state.etag:
            first_headers["If-None-Match"] = state.etag
        try:
            walk = self._pages(client, url, params, first_headers, headers, floor)
        except SearchRefused as exc:
            if not self._narrowing_terms():
                raise  # the feed's own query: the operator's to mend
            # an account the filters name that GitHub does not know (deleted, renamed):
            # search as without the filters' accounts, and from now on
            self._narrowing_refused = True
            result.warnings.append(f"{exc}; searched again without the filters' accounts")
            params = self._search_params(query, floor)
            walk = self._pages(client, url, params, first_headers, headers, floor)
        result.bytes_received += walk.bytes_received
        result.warnings.extend(walk.warnings)
        issues, etag, issues_modified = walk.items, walk.etag, walk.modified

        newest = issues_mark
        seen: set[str] = set()
        for item in issues:
            mention = self._mention(item, floor)
            if mention is None or mention.external_id in seen:
                continue
            seen.add(mention.external_id)
            result.mentions.append(mention)
        for item in issues:
            created = _time(item.get("created_at"))
            if newest is None or created > newest:
                newest = created

        comments_modified = False
        if self.options.repo:
            comments_since = comments_mark or window_start
            comments = self._repo_comments(client, headers, comments_since)
            result.bytes_received += comments.bytes_received
            result.warnings.extend(comments.warnings)
            result.brand_replies.extend(comments.replies)
            comments_newest, comments_modified = comments.newest, comments.modified
            if comments_newest and (comments_mark is None or comments_newest > comments_mark):
                comments_mark = comments_newest
            comments_mark = comments_mark or window_start

        if not issues_modified and not comments_modified:
            return PollResult(state=state, not_modified=True, warnings=result.warnings)
        newest = newest or window_start
        cursor = _stamp(newest)
        if self.options.repo and comments_mark is not None:
            cursor = f"{cursor} {_stamp(comments_mark)}"
        result.state = FeedCursor(cursor=cursor, etag=etag or state.etag)
        return result

    def _pages(
        self,
        client: httpx.Client,
        url: str,
        params: dict[str, str] | None,
        first_headers: dict[str, str],
        headers: dict[str, str],
        floor: datetime,
    ) -> _IssuePages:
        """Newest-first pages back to `floor`: the items, the first ETag, and "modified"."""
        walk = _IssuePages()
        next_url: str | None = url
        for page in range(self.options.max_pages):
            assert next_url is not None
            response, body = github_get(
                client,
                next_url,
                params=params if page == 0 else None,
                headers=first_headers if page == 0 else headers,
                token_env=self.options.token_env,
            )
            if response.status_code == 304:
                walk.modified = page > 0
                return walk
            if page == 0:
                walk.etag = response.headers.get("ETag")
            walk.bytes_received += len(body)
            page_items = self._page_items(decode_json(body, f"GitHub {next_url}"))
            walk.items.extend(page_items)
            reached_floor = any(_time(i.get("created_at")) < floor for i in page_items)
            next_url, warning = self._next_link(response)
            walk.warnings += [warning] if warning else []
            if reached_floor or not page_items or next_url is None:
                return walk
        walk.warnings.append(
            f"stopped after {self.options.max_pages} pages; older new issues were skipped"
        )
        return walk

    def _page_items(self, data: Any) -> list[dict[str, Any]]:
        raw: list[dict[str, Any]]  # checked below: a list of objects
        if self.options.query:
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise MalformedResponse("GitHub search answer has no `items` list")
            raw = data["items"]
        elif isinstance(data, list):
            raw = data
        else:
            raise MalformedResponse("GitHub issue list is not a JSON array")
        if not all(isinstance(item, dict) and "created_at" in item for item in raw):
            raise MalformedResponse("GitHub issue list holds entries without `created_at`")
        return raw

    def _next_link(self, response: httpx.Response) -> tuple[str | None, str | None]:
        """The Link header's next page, and a warning when it is not followed."""
        target = response.links.get("next", {}).get("url")
        if not target:
            return None, None
        base, nxt = urlsplit(self.base_url), urlsplit(target)
        if (base.scheme, base.netloc) != (nxt.scheme, nxt.netloc):
            # never send the token to a host the operator did not configure
            return None, f"not following a next page on another host: {nxt.netloc}"
        return target, None

    def _mention(self, item: dict[str, Any], floor: datetime) -> MentionRecord | None:
        created = _time(item.get("created_at"))
        if created < floor:
            return None
        if "pull_request" in item and not self.options.include_pulls:
            return None
        user = item.get("user") or {}
        login = user.get("login")
        user_id = str(user["id"]) if user.get("id") is not None else None
        if user.get("type") == "Bot" or self.brand_identity(login, user_id):
            return None  # bots are not customers; the brand's own issues are not mentions
        ref = self._issue_ref(item)
        if ref is None:
            raise MalformedResponse("GitHub issue without a repository URL or number")
        repo = ref.split("#", 1)[0]
        labels = [
            label.get("name") for label in item.get("labels") or [] if isinstance(label, dict)
        ]
        return MentionRecord(
            platform=self.platform,
            external_id=ref,
            created_at=created,
            text=html_to_text(item.get("body") or ""),
            url=item.get("html_url"),
            author=login,
            author_id=user_id,
            title=clean_text(item.get("title") or "") or None,
            thread_id=repo,
            extra={
                "state": item.get("state"),
                "comments": item.get("comments"),
                "author_association": item.get("author_association"),
                "labels": labels,
                "pull_request": "pull_request" in item,
            },
        )

    def _issue_ref(self, item: dict[str, Any]) -> str | None:
        number = item.get("number")
        repo_url = item.get("repository_url") or ""
        match = _REPO_API_URL.search(urlsplit(repo_url).path)
        if match and isinstance(number, int):
            return f"{match.group(1)}/{match.group(2)}#{number}"
        return issue_ref_from_api_url(item.get("url") or "")

    # ---- brand replies ------------------------------------------------------------------

    def _repo_comments(
        self, client: httpx.Client, headers: dict[str, str], since: datetime
    ) -> _RepoComments:
        """All comments of the repository updated since `since`, oldest first: one call a cycle."""
        url: str | None = f"{self.base_url}/repos/{self.options.repo}/issues/comments"
        params: dict[str, str] | None = {
            "sort": "updated",
            "direction": "asc",
            "since": _stamp(since),
            "per_page": str(PER_PAGE),
        }
        walk = _RepoComments()
        for _page in range(self.options.max_pages):
            assert url is not None
            response, body = github_get(
                client, url, params=params, headers=headers, token_env=self.options.token_env
            )
            if response.status_code == 304:
                break
            walk.modified = True
            walk.bytes_received += len(body)
            data = decode_json(body, f"GitHub {url}")
            if not isinstance(data, list):
                raise MalformedResponse("GitHub comment list is not a JSON array")
            for comment in data:
                if not isinstance(comment, dict):
                    raise MalformedResponse("GitHub comment list holds a non-object")
                updated = _time(comment.get("updated_at") or comment.get("created_at"))
                if walk.newest is None or updated > walk.newest:
                    walk.newest = updated
                if "/pull/" in (comment.get("html_url") or "") and not self.options.include_pulls:
                    continue
                ref = issue_ref_from_api_url(comment.get("issue_url") or "")
                reply = self._reply(comment, ref) if ref else None
                if reply:
                    walk.replies.append(reply)
            (url, warning), params = self._next_link(response), None
            walk.warnings += [warning] if warning else []
            if url is None:
                break
        return walk

    def _reply(self, comment: dict[str, Any], in_reply_to: str) -> BrandReply | None:
        """A comment by a configured identity answers its issue; a Bot account never counts."""
        user = comment.get("user") or {}
        login = user.get("login")
        user_id = str(user["id"]) if user.get("id") is not None else None
        identity = self.brand_identity(login, user_id)
        if identity is None:
            return None
        return BrandReply(
            platform=self.platform,
            external_id=f"{in_reply_to}/comment/{comment.get('id')}",
            in_reply_to=in_reply_to,
            created_at=_time(comment.get("created_at")),
            author=login,
            author_id=user_id,
            url=comment.get("html_url"),
            text=html_to_text(comment.get("body") or ""),
            bot=identity.bot or user.get("type") == "Bot",
        )

    def recheck(
        self, client: httpx.Client, mentions: Sequence[MentionRecord], now: datetime
    ) -> list[BrandReply]:
        """Query mode: read each open issue's comments, at most `max_rechecks` issues."""
        if not self.options.query or not self.identities:
            return []  # repo mode sees every comment in its poll
        headers = self._headers()
        replies: list[BrandReply] = []
        unreadable = Unreadable("github")
        for mention in list(mentions)[: self.options.max_rechecks]:
            match = _ISSUE_ID.match(mention.external_id)
            if not match:
                continue
            try:
                replies += self._issue_replies(client, headers, mention.external_id, match)
            except NotFoundError:
                unreadable.answered()  # deleted, or moved to a repository we cannot see
            except MalformedResponse as exc:
                unreadable.skip(mention.external_id, exc)
            else:
                unreadable.answered()
        unreadable.done()
        return replies

    def _issue_replies(
        self, client: httpx.Client, headers: dict[str, str], issue: str, match: re.Match[str]
    ) -> list[BrandReply]:
        """The brand's comments on one issue, pages of 100 in time order (GitHub lists them
        by ascending id), up to `max_pages`. Once a page holds a human brand reply, later pages
        can only hold later ones: the walk stops. A walk stopped by `max_pages` has read every
        comment before the ones it skipped, so a reply it found is still the first (exact)."""
        owner, repo, number = match.groups()
        url: str | None = f"{self.base_url}/repos/{owner}/{repo}/issues/{number}/comments"
        params: dict[str, str] | None = {"per_page": str(PER_PAGE)}
        replies: list[BrandReply] = []
        for _page in range(self.options.max_pages):
            assert url is not None
            response, body = github_get(
                client, url, params=params, headers=headers, token_env=self.options.token_env
            )
            if response.status_code == 304:
                break
            data = decode_json(body, f"GitHub {url}")
            if not isinstance(data, list):
                raise MalformedResponse("GitHub comment list is not a JSON array")
            for comment in data:
                if isinstance(comment, dict):
                    reply = self._reply(comment, issue)
                    if reply:
                        replies.append(reply)
            if any(not r.bot for r in replies):
                break
            (url, warning), params = self._next_link(response), None
            if warning:
                log.warning("github recheck of %s: %s", issue, warning)
            if url is None:
                break
        return replies
