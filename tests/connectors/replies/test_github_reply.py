"""The GitHub writer: the exact comment request, the escaped body, each failure (GitHub's 403
rate limits included), `find_own`, and the comment as the feed's connector reads it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors import BrandIdentity, MentionRecord
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.github import GitHubReplier, GitHubReplyOptions
from connectors.sources.github import GitHubConnector, GitHubOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import Reply, local_server
from tests.support.mock_http import Recording, mock_client

# the recorded 201 answer to POST /repos/PyGithub/PyGithub/issues/28/comments (SOURCES.md)
CREATED = fixture_bytes("github", "issue_comment_created_pygithub_28_2012.json")
CREATED_HEADERS = json.loads(
    fixture_bytes("github", "issue_comment_created_pygithub_28_2012.headers.json")
)
COMMENTS_3372 = fixture_bytes("github", "issue_pygithub_3372_comments_per_page4.json")
# headers that described the recorded (compressed, chunked) transfer, not the JSON we replay
_TRANSFER = {"content-encoding", "transfer-encoding", "content-length", "status", "connection"}


def _recorded(name: str) -> tuple[int, bytes, dict[str, str]]:
    meta = json.loads(fixture_bytes("github", f"{name}.headers.json"))
    headers = {k: v for k, v in meta["headers"].items() if k.lower() not in _TRANSFER}
    return meta["status"], fixture_bytes("github", f"{name}.json"), headers


TARGET = ReplyTarget(
    platform="github",
    feed="acme-github",
    external_id="PyGithub/PyGithub#28",
    created_at=datetime(2012, 5, 19, 10, 0, tzinfo=UTC),
    text="the issue",
    author="someone",
    thread_id="PyGithub/PyGithub",
)
TOKEN = "ghp_write-token-123"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_GITHUB_WRITE", TOKEN)


def _replier(base_url: str = "https://api.github.com", **options: object) -> GitHubReplier:
    return GitHubReplier(
        GitHubReplyOptions(token_env="ACME_GITHUB_WRITE", **options),  # type: ignore[arg-type]
        feed_options=GitHubOptions(query="acme"),
        base_url=base_url,
    )


def test_post_sends_the_escaped_body_to_a_real_server() -> None:
    created = Reply(201, CREATED, {"Content-Type": "application/json; charset=utf-8"})
    with local_server() as server, httpx.Client() as client:
        server.route("/repos/PyGithub/PyGithub/issues/28/comments", created)
        posted = _replier(server.url).post(client, TARGET, "Comment created by PyGithub", "k")
    (request,) = server.requests
    recorded = CREATED_HEADERS["request"]
    assert request.method == recorded["method"] == "POST"
    assert request.path == "/repos/PyGithub/PyGithub/issues/28/comments"
    assert request.json() == recorded["body"] == {"body": "Comment created by PyGithub"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert posted.external_id == "PyGithub/PyGithub#28/comment/5808311"
    assert posted.created_at == datetime(2012, 5, 20, 11, 46, 42, tzinfo=UTC)
    assert posted.author == "jacquev6" and posted.author_id == "327146"
    assert posted.url is None  # the 2012 API sent no html_url


def test_markup_is_escaped_so_the_comment_shows_what_was_typed() -> None:
    handler = Recording(lambda request: httpx.Response(201, content=CREATED))
    with mock_client(handler) as client:
        _replier().post(client, TARGET, "**Fixed** in [v2](http://evil.example) <b>", "k")
    body = json.loads(handler.requests[0].content)["body"]
    assert body == r"\*\*Fixed\*\* in \[v2\](<http://evil.example>) \<b\>"


def test_a_validation_error_is_refused_with_githubs_words() -> None:
    # the documented 422 body shape (https://docs.github.com/rest/overview/troubleshooting)
    answer = {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "IssueComment",
                "code": "custom",
                "field": "body",
                "message": "body is too long (maximum is 65536 characters)",
            }
        ],
    }
    transport = Recording(lambda request: httpx.Response(422, json=answer))
    with mock_client(transport) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, "x", "k")
    assert refused.value.kind == "invalid"
    assert "Validation Failed: body is too long (maximum is 65536 characters)" in (
        refused.value.message
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "auth"), (403, "auth"), (404, "gone"), (410, "gone"), (429, "rate_limited")],
)
def test_statuses_that_certainly_posted_nothing_are_refusals(status: int, kind: str) -> None:
    answer = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
    transport = Recording(lambda request: httpx.Response(status, json=answer))
    with mock_client(transport) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, "x", "k")
    assert refused.value.kind == kind
    assert TOKEN not in refused.value.message
    if status == 429:  # no Retry-After: GitHub asks for at least a minute
        assert refused.value.retry_after == 60


@pytest.mark.parametrize(
    "name",
    # recorded: a secondary limit (Retry-After: 60), a primary one (Remaining 0, no Reset)
    ["secondary_rate_limit_403_search_code", "rate_limit_exceeded_403_unauth_2013"],
)
def test_githubs_403_rate_limits_are_rate_limits_not_auth(name: str) -> None:
    status, body, headers = _recorded(name)
    assert status == 403
    answer = httpx.Response(status, headers=headers, content=body)
    with mock_client(lambda _request: answer) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, "x", "k")
    assert refused.value.kind == "rate_limited"
    assert refused.value.retry_after == 60.0
    assert "nothing was posted" in refused.value.message


def test_a_locked_conversation_is_said_so() -> None:
    answer = {"message": "Unable to create comment because issue is locked."}
    transport = Recording(lambda request: httpx.Response(403, json=answer))
    with mock_client(transport) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, "x", "k")
    assert refused.value.kind == "invalid"
    assert "locked" in refused.value.message


def test_a_server_error_or_a_reset_after_sending_is_unknown_and_no_connection_a_refusal() -> None:
    with local_server() as server, httpx.Client() as client:
        server.route("/repos/PyGithub/PyGithub/issues/28/comments", Reply(502, b"bad gateway"))
        with pytest.raises(ReplyUnknown):
            _replier(server.url).post(client, TARGET, "x", "k")
        server.route("/repos/PyGithub/PyGithub/issues/28/comments", Reply(201, reset_after=True))
        with pytest.raises(ReplyUnknown):
            _replier(server.url).post(client, TARGET, "x", "k")
        closed = server.url
    with httpx.Client() as client, pytest.raises(ReplyRefused) as refused:
        _replier(closed).post(client, TARGET, "x", "k")
    assert refused.value.kind == "unreachable"


def test_a_mention_that_is_not_an_issue_is_refused_before_anything_is_sent() -> None:
    transport = Recording(lambda request: httpx.Response(201, content=CREATED))
    odd = ReplyTarget("github", "acme-github", "not-an-issue", TARGET.created_at, "x")
    with mock_client(transport) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, odd, "x", "k")
    assert refused.value.kind == "invalid" and transport.requests == []


def test_the_length_is_checked_as_the_escaped_body() -> None:
    replier = _replier()
    assert replier.check("a" * 65536) is None
    problem = replier.check("*" * 32769)  # each star is sent as "\*"
    assert problem is not None and "65536" in problem and "65538" in problem


def test_find_own_finds_the_brands_comment_after_since() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/user":
            return httpx.Response(200, json={"login": "jacquev6", "id": 327146})
        return httpx.Response(200, content=b"[" + CREATED + b"]")

    handler = Recording(answer)
    replier = _replier()
    since = datetime(2012, 5, 20, 11, 46, tzinfo=UTC)
    with mock_client(handler) as client:
        found = replier.find_own(client, TARGET, "Comment created by PyGithub", since)
        other = replier.find_own(client, TARGET, "other text", since)
        later = replier.find_own(
            client, TARGET, "Comment created by PyGithub", since + timedelta(minutes=5)
        )
    assert found is not None and found.external_id == "PyGithub/PyGithub#28/comment/5808311"
    assert other is None and later is None
    listing = handler.requests[1]
    assert listing.url.path == "/repos/PyGithub/PyGithub/issues/28/comments"
    assert listing.url.params["since"] == "2012-05-20T11:46:00Z"
    assert listing.headers["Authorization"] == f"Bearer {TOKEN}"


def test_find_own_skips_other_authors_and_bodies_not_ours() -> None:
    # recorded comments of PyGithub#3372: EnricoMi's comments carry Markdown we never send
    handler = Recording(lambda request: httpx.Response(200, content=COMMENTS_3372))
    target = ReplyTarget("github", "acme-github", "PyGithub/PyGithub#3372", TARGET.created_at, "")
    typed = "Fix available in #3377. This adds the per_page parameter"
    with mock_client(handler) as client:
        found = _replier(login="EnricoMi").find_own(client, target, typed, TARGET.created_at)
    assert found is None
    assert [r.url.path for r in handler.requests] == [
        "/repos/PyGithub/PyGithub/issues/3372/comments"
    ]


def test_find_own_says_unknown_when_github_cannot_be_asked() -> None:
    handler = Recording(lambda request: httpx.Response(500, text="oops"))
    with mock_client(handler) as client, pytest.raises(ReplyUnknown):
        _replier(login="jacquev6").find_own(client, TARGET, "x", TARGET.created_at)


def test_missing_names_the_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _replier().missing() is None
    monkeypatch.delenv("ACME_GITHUB_WRITE")
    assert _replier().missing() == "ACME_GITHUB_WRITE is not set"


def test_the_posted_comment_is_the_reply_the_feed_reads_back() -> None:
    """Round trip: the recorded created comment, listed by the issue's comments, is the brand
    reply the connector's recheck produces: same id, same time, answering the mention."""
    with mock_client(lambda request: httpx.Response(201, content=CREATED)) as client:
        posted = _replier().post(client, TARGET, "Comment created by PyGithub", "k")
    connector = GitHubConnector(
        GitHubOptions(query="acme"),
        feed_name="acme-github",
        identities=(BrandIdentity("github", handle="jacquev6"),),
    )
    mention = MentionRecord("github", TARGET.external_id, TARGET.created_at, TARGET.text)
    listing = b"[" + CREATED + b"]"
    with mock_client(lambda request: httpx.Response(200, content=listing)) as client:
        (reply,) = connector.recheck(client, [mention], datetime(2012, 5, 21, tzinfo=UTC))
    assert reply.external_id == posted.external_id
    assert reply.in_reply_to == TARGET.external_id
    assert reply.created_at == posted.created_at
