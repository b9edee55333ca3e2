"""The Stack Exchange writer: the exact request, the comment it returns, and each error_id."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.base import BrandIdentity, MentionRecord
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.stackexchange import (
    StackExchangeReplier,
    StackExchangeReplyOptions,
    escape_comment,
)
from connectors.sources.stackexchange import StackExchangeConnector, StackExchangeOptions
from tests.support.http_server import DROP, Reply, local_server

FIXTURES = Path(__file__).parents[2] / "fixtures" / "stackexchange"
# the documented answer of POST /posts/{id}/comments/add (SOURCES.md there)
CREATED = (FIXTURES / "comments_add_created_from_docs.json").read_bytes()
API = "https://api.example.test/2.3"
SECRETS = ("write-token-123", "app-key-456")
LINK = (
    "http://stackoverflow.com/questions/27406879/"
    "uploaded-files-getting-deleted-while-redeploying-in-openshift-server"
)
TARGET = ReplyTarget(
    platform="stackexchange",
    feed="acme-so",
    external_id="stackoverflow:q:27406879",
    created_at=datetime(2014, 12, 10, 17, 10, 40, tzinfo=UTC),
    text="Uploaded files getting deleted while redeploying",
    url=LINK,
    author="sriraman",
    author_id="2859018",
    title="Uploaded files getting deleted while redeploying in Openshift server",
)
TEXT = (
    "Sorry about that & thanks for the report: files in the repo dir are replaced on each"
    " deploy, keep uploads in the data dir."
)


def _replier(monkeypatch: pytest.MonkeyPatch, base_url: str = API) -> StackExchangeReplier:
    monkeypatch.setenv("ACME_SO_WRITE", "write-token-123")
    monkeypatch.setenv("ACME_SO_KEY", "app-key-456")
    return StackExchangeReplier(
        StackExchangeReplyOptions(access_token_env="ACME_SO_WRITE", key_env="ACME_SO_KEY"),
        feed_options=StackExchangeOptions(site="stackoverflow", tagged="openshift"),
        base_url=base_url,
    )


def _client(*answers: httpx.Response | Exception) -> tuple[httpx.Client, list[httpx.Request]]:
    queue, seen = list(answers), []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def _error(name: str) -> httpx.Response:
    """The API answers every error with HTTP 400 and the envelope."""
    return httpx.Response(400, content=(FIXTURES / name).read_bytes())


def test_post_comments_on_the_question_and_returns_its_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, seen = _client(httpx.Response(200, content=CREATED))
    posted = _replier(monkeypatch).post(client, TARGET, TEXT, "monitor-reply-1")
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == f"{API}/posts/27406879/comments/add"
    assert parse_qs(request.content.decode()) == {
        "site": ["stackoverflow"],
        "key": ["app-key-456"],
        "access_token": ["write-token-123"],
        "body": [TEXT],
        "filter": ["withbody"],
    }
    assert posted.external_id == "stackoverflow:c:43321987"
    assert posted.created_at == datetime(2014, 12, 10, 17, 30, tzinfo=UTC)
    assert posted.url == f"{LINK}#comment43321987_27406879"
    assert (posted.author, posted.author_id) == ("Acme Support", "9990001")
    assert posted.text == TEXT


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("use *this* and _that_ or `code`", "use \\*this\\* and \\_that\\_ or \\`code\\`"),
        (
            "[so] [tag:x] [a](http://evil.example)",
            "\\[so\\] \\[tag:x\\] \\[a\\](http://evil.example)",
        ),
        ("---gone--- but a-b -- ok", "\\-\\-\\-gone\\-\\-\\- but a-b -- ok"),
        ("two\nlines   and\tblanks", "two lines and blanks"),
        ("see https://acme.example/a_b*c.", "see https://acme.example/a_b\\*c."),
    ],
)
def test_comment_markdown_is_escaped_to_show_as_typed(typed: str, sent: str) -> None:
    assert escape_comment(typed) == sent


def test_the_length_is_checked_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.check("a" * 600) is None
    too_long = replier.check("*" * 301)  # each star goes out as \*
    assert too_long is not None and "at most 600" in too_long and "by 2" in too_long
    too_short = replier.check("thanks!")
    assert too_short is not None and "at least 15" in too_short and "Add 8" in too_short
    assert replier.check("a" * 15) is None
    assert replier.check("  ") == "The reply is empty."


@pytest.mark.parametrize(
    ("fixture", "kind", "words"),
    [
        ("error_402_invalid_access_token_from_docs.json", "auth", "invalid_access_token"),
        ("error_403_access_denied_from_docs.json", "auth", "requires an access_token"),
        ("error_400_bad_parameter_site_from_docs.json", "invalid", "bad_parameter"),
        ("error_407_write_failed_from_docs.json", "invalid", "once every 5 seconds"),
        ("error_502_throttle_violation_quota_from_docs.json", "rate_limited", "46472"),
    ],
)
def test_the_error_id_decides_the_refusal_not_the_400(
    monkeypatch: pytest.MonkeyPatch, fixture: str, kind: str, words: str
) -> None:
    client, _ = _client(_error(fixture))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert refused.value.kind == kind
    assert words in refused.value.message
    assert "nothing was posted" in refused.value.message
    if kind == "rate_limited":
        assert refused.value.retry_after == 46472
    for secret in SECRETS:
        assert secret not in refused.value.message


def test_a_duplicate_request_or_a_server_error_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    internal = {"error_id": 500, "error_name": "internal_error", "error_message": "oops"}
    for answer in (
        _error("error_409_duplicate_request_from_docs.json"),
        httpx.Response(400, json=internal),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.ReadTimeout("timed out"),
    ):
        client, _ = _client(answer)
        with pytest.raises(ReplyUnknown) as unknown:
            _replier(monkeypatch).post(client, TARGET, TEXT, "k")
        for secret in SECRETS:
            assert secret not in unknown.value.message


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_without_the_envelope_are_judged_by_status(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    client, _ = _client(httpx.Response(status, headers={"Retry-After": "30"}, text="no"))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert refused.value.kind == kind


def test_a_refused_connection_posted_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _client(httpx.ConnectError("connection refused"))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert refused.value.kind == "unreachable"


def test_a_mention_of_another_site_is_refused_before_sending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, seen = _client()
    other = ReplyTarget(**{**TARGET.__dict__, "external_id": "superuser:q:27406879"})
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(client, other, TEXT, "k")
    assert refused.value.kind == "invalid" and not seen


def test_missing_names_the_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.missing() is None
    monkeypatch.delenv("ACME_SO_KEY")
    assert replier.missing() == "ACME_SO_KEY is not set"


def _comments(*items: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"items": list(items), "has_more": False})


def test_find_own_reads_the_questions_comments_for_the_tokens_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = json.loads(CREATED)["items"][0]
    theirs = {**ours, "comment_id": 43321999, "owner": {"user_id": 2859018}}
    me = httpx.Response(200, json={"items": [{"user_id": 9990001}], "has_more": False})
    client, seen = _client(*[a for _ in range(3) for a in (me, _comments(theirs, ours))])
    replier = _replier(monkeypatch)
    since = datetime(2014, 12, 10, 17, 29, 50, tzinfo=UTC)
    found = replier.find_own(client, TARGET, TEXT, since)
    assert found is not None and found.external_id == "stackoverflow:c:43321987"
    assert replier.find_own(client, TARGET, "another answer text", since) is None
    later = datetime(2014, 12, 10, 18, 0, tzinfo=UTC)
    assert replier.find_own(client, TARGET, TEXT, later) is None
    who, comments = seen[0], seen[1]
    assert who.url.path == "/2.3/me"
    assert who.url.params["access_token"] == "write-token-123"
    assert comments.url.path == "/2.3/posts/27406879/comments"
    assert comments.url.params["order"] == "desc"
    assert comments.url.params["filter"] == "withbody"


def test_find_own_that_cannot_ask_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _client(_error("error_402_invalid_access_token_from_docs.json"))
    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).find_own(client, TARGET, TEXT, datetime(2014, 1, 1, tzinfo=UTC))


def test_a_later_recheck_finds_the_posted_comment_stored_not_new(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, _ = _client(httpx.Response(200, content=CREATED))
    posted = _replier(monkeypatch).post(client, TARGET, TEXT, "k")
    connector = StackExchangeConnector(
        StackExchangeOptions(site="stackoverflow", tagged="openshift"),
        feed_name="acme-so",
        identities=(BrandIdentity(platform="stackexchange", account_id="9990001"),),
        base_url=API,
    )
    mention = MentionRecord(
        platform="stackexchange",
        external_id=TARGET.external_id,
        created_at=TARGET.created_at,
        text=TARGET.text,
        url=TARGET.url,
        author=TARGET.author,
        author_id=TARGET.author_id,
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/comments"):
            return httpx.Response(200, content=CREATED)
        return httpx.Response(200, json={"items": [], "has_more": False})

    with httpx.Client(transport=httpx.MockTransport(handler)) as read:
        (reply,) = connector.recheck(read, [mention], datetime(2026, 1, 1, tzinfo=UTC))
    assert reply.external_id == posted.external_id
    assert reply.in_reply_to == TARGET.external_id
    assert reply.created_at == posted.created_at
    assert reply.url == posted.url


def test_posting_through_a_real_http_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_server() as server:
        server.route("/2.3/posts/27406879/comments/add", Reply(200, CREATED))
        replier = _replier(monkeypatch, base_url=f"{server.url}/2.3")
        with httpx.Client() as client:
            posted = replier.post(client, TARGET, TEXT, "k")
        server.route(
            "/2.3/posts/27406879/comments/add",
            Reply(400, (FIXTURES / "error_407_write_failed_from_docs.json").read_bytes()),
        )
        with httpx.Client() as client, pytest.raises(ReplyRefused) as refused:
            replier.post(client, TARGET, TEXT, "k2")
        server.route("/2.3/posts/27406879/comments/add", Reply(DROP))
        with httpx.Client() as client, pytest.raises(ReplyUnknown):
            replier.post(client, TARGET, TEXT, "k3")
        first = server.requests[0]
    assert first.method == "POST"
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(first.body.decode())["body"] == [TEXT]
    assert posted.external_id == "stackoverflow:c:43321987"
    assert refused.value.kind == "invalid" and "once every 5 seconds" in refused.value.message
