"""GitHub: the brand's reply is a comment on the mention's issue (or pull request conversation).

- POST /repos/{owner}/{repo}/issues/{number}/comments with {"body": ...}
  (https://docs.github.com/rest/issues/comments#create-an-issue-comment); the mention's id,
  `owner/repo#number`, names the issue. Pull requests take their conversation comments here
  too. GitHub Enterprise Server: the feed's `base_url` (https://HOST/api/v3).
- Write credentials: a token of the brand's account in `token_env`, separate from the feed's
  read token: fine-grained with the repository permission "Issues: Read and write" ("Pull
  requests: Read and write" as well to answer on pull requests), or a classic token with
  `public_repo` (`repo` for private repositories).
- Length: 65536 characters of body, counted once escaped (below), checked before posting.
- Text: GitHub renders Markdown, so the typed text is escaped to render as typed
  (connectors/replies/_markdown.py: every markup character backslash-escaped, typed URLs as
  autolinks to exactly themselves); @mentions and #references still link, as typed.
- Duplicates: GitHub takes no idempotency key. `find_own` reads the issue's comments updated
  since `since` (GET .../comments?since=, pages of 100 by the Link header) for one by the
  token's login (GET /user, or `login`) whose body is the one this writer sends.
- Refusals: GitHub answers its secondary rate limit (80 content-creating requests a minute,
  500 an hour) with 403 or 429 and `Retry-After`, its primary limit with
  `X-RateLimit-Remaining: 0`: both are rate limits, never an auth problem. A locked issue is
  a 403 that says so; 410 means issues are disabled on the repository; 422 carries the
  validation's words.
- The reply's id is `owner/repo#number/comment/<id>`, as the feed's connector gives a
  comment, and its time the comment's `created_at`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.apijson import decode_json
from connectors.env import require_env
from connectors.errors import AuthError, ConnectorError, MalformedResponse
from connectors.replies._markdown import plain_markdown
from connectors.replies.base import (
    PostedReply,
    Replier,
    ReplyError,
    ReplyOptions,
    ReplyRefused,
    ReplyTarget,
    ReplyUnknown,
    send,
)
from connectors.sources.github import API_VERSION, PER_PAGE, rate_limit_wait

SOURCE = "GitHub"
MAX_BODY = 65536
MAX_PAGES = 10  # pages of comments `find_own` reads since the attempt
_ISSUE = re.compile(r"^([^/#\s]+)/([^/#\s]+)#(\d+)$")


class GitHubReplyOptions(ReplyOptions):
    token_env: str
    """env var holding a token of the brand's account that may comment on issues"""
    login: str | None = None
    """the login the token comments as (default: from GET /user; a GitHub App token must set it)"""


class GitHubReplier(Replier[GitHubReplyOptions]):
    platform = "github"
    max_length = MAX_BODY
    length_unit = "characters once escaped for Markdown"
    write_scopes = (
        "fine-grained token: Issues read and write (and Pull requests read and write for"
        " pull requests); classic token: public_repo, or repo for private repositories"
    )

    def length(self, text: str) -> int:
        return len(plain_markdown(text))

    def _headers(self) -> dict[str, str]:
        options: GitHubReplyOptions = self.options
        try:
            token = require_env(options.token_env, "a GitHub token that may comment on issues")
        except AuthError as exc:
            raise ReplyRefused(f"{exc}: nothing was posted", kind="auth") from exc
        return {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {token}",
        }

    def post(self, client: httpx.Client, target: ReplyTarget, text: str, key: str) -> PostedReply:
        owner, repo, number = _issue(target)
        url = f"{self.base_url}/repos/{owner}/{repo}/issues/{number}/comments"
        _r, body = _send(client, "POST", url, headers=self._headers(), json=_body(text))
        return _posted(target, _json(body), text)

    def find_own(
        self, client: httpx.Client, target: ReplyTarget, text: str, since: datetime
    ) -> PostedReply | None:
        owner, repo, number = _issue(target)
        headers = self._headers()
        sent = _normal(plain_markdown(text))
        try:
            login = self._login(client, headers).lower()
            url: str | None = f"{self.base_url}/repos/{owner}/{repo}/issues/{number}/comments"
            params: dict[str, str] | None = {
                "since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "per_page": str(PER_PAGE),
            }
            for _page in range(MAX_PAGES):
                assert url is not None
                response, body = _send(client, "GET", url, headers=headers, params=params)
                comments = _list(body)
                for comment in comments:
                    user = _dict(comment.get("user"))
                    if (
                        str(user.get("login", "")).lower() == login
                        and _normal(comment.get("body")) == sent
                    ):
                        found = _posted(target, comment, text)
                        if found.created_at >= since:
                            return found
                url, params = self._next(response), None
                if url is None:
                    break
        except ReplyError as exc:
            raise ReplyUnknown(f"could not read the issue's comments to look: {exc}") from exc
        return None

    def _login(self, client: httpx.Client, headers: dict[str, str]) -> str:
        options: GitHubReplyOptions = self.options
        if options.login:
            return options.login
        _r, body = _send(client, "GET", f"{self.base_url}/user", headers=headers)
        login = _json(body).get("login")
        if not isinstance(login, str) or not login:
            raise ReplyUnknown("GitHub did not say whose token this is: set `login`")
        return login

    def _next(self, response: httpx.Response) -> str | None:
        """The Link header's next page, on this API's host only (the token goes with it)."""
        target = response.links.get("next", {}).get("url")
        if not target:
            return None
        base, nxt = urlsplit(self.base_url), urlsplit(target)
        return target if (base.scheme, base.netloc) == (nxt.scheme, nxt.netloc) else None


def _send(
    client: httpx.Client, method: str, url: str, **request: Any
) -> tuple[httpx.Response, bytes]:
    """`send`, with GitHub's 403 rate limits and locked issues told apart from auth."""
    seen: dict[str, float | str] = {}

    def refusal(response: httpx.Response, body: bytes) -> str | None:
        wait = rate_limit_wait(response, body)
        if wait is not None:
            seen["wait"] = wait
        words = _words(body)
        if words:
            seen["words"] = words
        return words

    try:
        return send(client, method, url, source=SOURCE, refusal=refusal, **request)
    except ReplyRefused as exc:
        wait = seen.get("wait")
        if isinstance(wait, float) and exc.kind in ("auth", "rate_limited"):
            said = f": {seen['words']}" if seen.get("words") else ""
            raise ReplyRefused(
                f"GitHub is rate limiting the brand's account{said}: nothing was posted;"
                f" try again in {int(wait)} s",
                kind="rate_limited",
                retry_after=wait,
            ) from exc
        words = str(seen.get("words", ""))
        if exc.kind == "auth" and "locked" in words.lower():
            raise ReplyRefused(
                f"GitHub refused the comment (403): {words}: the conversation is locked to"
                " collaborators; nothing was posted",
                kind="invalid",
            ) from exc
        raise


def _issue(target: ReplyTarget) -> tuple[str, str, str]:
    match = _ISSUE.match(target.external_id)
    if match is None:
        raise ReplyRefused(
            f"{target.external_id} is not a GitHub issue (owner/repo#number): nothing was posted",
            kind="invalid",
        )
    owner, repo, number = match.groups()
    return owner, repo, number


def _body(text: str) -> dict[str, str]:
    return {"body": plain_markdown(text)}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _normal(body: Any) -> str:
    return body.replace("\r\n", "\n").strip() if isinstance(body, str) else ""


def _posted(target: ReplyTarget, comment: dict[str, Any], text: str) -> PostedReply:
    user = _dict(comment.get("user"))
    comment_id = comment.get("id")
    if not isinstance(comment_id, int):
        raise ReplyUnknown("GitHub's answer lacks the comment's id")
    try:
        created = _time(comment.get("created_at"))
    except MalformedResponse as exc:
        raise ReplyUnknown(f"GitHub's answer lacks the comment's time ({exc})") from exc
    html_url = comment.get("html_url")
    return PostedReply(
        external_id=f"{target.external_id}/comment/{comment_id}",
        created_at=created,
        url=html_url if isinstance(html_url, str) else None,
        author=user.get("login"),
        author_id=str(user["id"]) if user.get("id") is not None else None,
        text=text,
    )


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponse(f"not a time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedResponse(f"an unreadable time {value!r}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _json(body: bytes) -> dict[str, Any]:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError as exc:
        raise ReplyUnknown(f"GitHub's answer could not be read ({exc})") from exc
    if not isinstance(found, dict):
        raise ReplyUnknown("GitHub's answer is not a JSON object")
    return found


def _list(body: bytes) -> list[dict[str, Any]]:
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError as exc:
        raise ReplyUnknown(f"GitHub's comment list could not be read ({exc})") from exc
    if not isinstance(found, list):
        raise ReplyUnknown("GitHub's comment list is not a JSON array")
    return [comment for comment in found if isinstance(comment, dict)]


def _words(body: bytes) -> str | None:
    """GitHub explains a refusal as {"message": "Validation Failed", "errors": [{"message":
    "body is too long (maximum is 65536 characters)", ...}]}."""
    try:
        found = decode_json(body, SOURCE)
    except ConnectorError:
        return None
    if not isinstance(found, dict):
        return None
    parts = [found["message"]] if isinstance(found.get("message"), str) else []
    for error in found.get("errors") or []:
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            parts.append(error["message"])
        elif isinstance(error, str):
            parts.append(error)
    return ": ".join(parts) or None
