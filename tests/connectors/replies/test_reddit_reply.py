"""The Reddit writer: the exact request, the comment Reddit returns, and each refusal."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import ValidationError

from connectors.base import BrandIdentity, FeedCursor
from connectors.logins import Logins
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.reddit import RedditReplier, RedditReplyOptions, escape_markdown
from connectors.sources.reddit import RedditConnector, RedditOptions
from tests.support.http_server import DROP, Reply, local_server

FIXTURES = Path(__file__).parents[2] / "fixtures" / "reddit"
# PRAW's recorded answers to POST /api/comment (SOURCES.md there)
ON_POST = (FIXTURES / "api_comment_reply_to_post_t3_4b1tfm_2016.json").read_bytes()
ON_COMMENT = (FIXTURES / "api_comment_reply_to_comment_t1_d1616q2_2016.json").read_bytes()
NO_THINGS = (FIXTURES / "api_comment_no_things_t1_eear2ml_2019.json").read_bytes()
TOKEN = (FIXTURES / "access_token_client_credentials_2016.json").read_bytes()
TOKEN_URL = "https://auth.example.test/api/v1/access_token"
API = "https://oauth.example.test"
SECRETS = ("app-secret-9", "hunter2-password", "refresh-tok-77", "<ACCESS_TOKEN>")
POST = ReplyTarget(
    platform="reddit",
    feed="acme-reddit",
    external_id="t3_4b1tfm",
    created_at=datetime(2016, 3, 19, 21, 0, tzinfo=UTC),
    text="is acme down?",
    url="https://www.reddit.com/r/acme/comments/4b1tfm/is_acme_down/",
    thread_id="t3_4b1tfm",
)
COMMENT = ReplyTarget(
    platform="reddit",
    feed="acme-reddit",
    external_id="t1_d1616q2",
    created_at=datetime(2016, 3, 19, 22, 0, tzinfo=UTC),
    text="still down",
    url="https://www.reddit.com/r/acme/comments/4b1tfm/is_acme_down/d1616q2/",
    parent_id="t3_4b1tfm",
    thread_id="t3_4b1tfm",
)


def _replier(
    monkeypatch: pytest.MonkeyPatch,
    *,
    refresh: bool = False,
    token_url: str = TOKEN_URL,
    base_url: str = API,
    logins: Logins | None = None,
) -> RedditReplier:
    monkeypatch.setenv("ACME_REDDIT_APP", "app-id-1")
    monkeypatch.setenv("ACME_REDDIT_APP_SECRET", "app-secret-9")
    monkeypatch.setenv("ACME_REDDIT_USER", "<USERNAME>")  # PRAW's recorder's placeholder
    monkeypatch.setenv("ACME_REDDIT_PASSWORD", "hunter2-password")
    monkeypatch.setenv("ACME_REDDIT_REFRESH", "refresh-tok-77")
    login: dict[str, str] = (
        {"refresh_token_env": "ACME_REDDIT_REFRESH"}
        if refresh
        else {"username_env": "ACME_REDDIT_USER", "password_env": "ACME_REDDIT_PASSWORD"}
    )
    return RedditReplier(
        RedditReplyOptions(
            client_id_env="ACME_REDDIT_APP", client_secret_env="ACME_REDDIT_APP_SECRET", **login
        ),
        feed_options=RedditOptions(subreddit="acme", token_url=token_url, user_agent="acme/1.0"),
        base_url=base_url,
        logins=logins,
    )


class Api:
    """Answers the token endpoint with the recorded token, the rest from `answers`."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == TOKEN_URL:
            return httpx.Response(200, content=TOKEN)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def api(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) != TOKEN_URL]


def _no_secret(message: str) -> None:
    for secret in SECRETS:
        assert secret not in message


def test_post_comments_under_the_post_and_returns_reddits_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = Api(httpx.Response(200, content=ON_POST))
    posted = _replier(monkeypatch).post(api.client(), POST, "Test reply", "monitor-reply-1")
    token, request = api.requests
    assert token.method == "POST" and str(token.url) == TOKEN_URL
    assert (
        token.headers["Authorization"]
        == "Basic " + base64.b64encode(b"app-id-1:app-secret-9").decode()
    )
    assert parse_qs(token.content.decode()) == {
        "grant_type": ["password"],
        "username": ["<USERNAME>"],
        "password": ["hunter2-password"],
    }
    assert request.method == "POST"
    assert str(request.url) == f"{API}/api/comment?raw_json=1"
    assert request.headers["Authorization"] == "bearer <ACCESS_TOKEN>"
    assert request.headers["User-Agent"] == "acme/1.0"
    assert parse_qs(request.content.decode()) == {
        "api_type": ["json"],
        "thing_id": ["t3_4b1tfm"],
        "text": ["Test reply"],
    }
    assert posted.external_id == "t1_d162ara"
    assert posted.created_at == datetime(2016, 3, 19, 21, 39, 27, tzinfo=UTC)
    assert posted.author == "<USERNAME>"
    assert posted.text == "Test reply"
    # the 2016 answer has no permalink: the reply's page is under the post's
    assert posted.url == "https://www.reddit.com/r/acme/comments/4b1tfm/is_acme_down/d162ara/"


def test_the_text_is_escaped_so_reddit_shows_it_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    typed = "Hi *there* [click](http://evil.example) <b>x</b>\n# 1. see https://acme.example/a_b."
    api = Api(httpx.Response(200, content=ON_POST))
    _replier(monkeypatch).post(api.client(), POST, typed, "k")
    (request,) = api.api()
    sent = parse_qs(request.content.decode())["text"][0]
    assert sent == (
        "Hi \\*there\\* \\[click\\]\\(http://evil.example\\) \\<b\\>x\\<\\/b\\>  \n"
        "\\# 1\\. see https://acme.example/a_b\\."
    )


@pytest.mark.parametrize(
    ("typed", "markdown"),
    [
        ("    indented code", "\u00a0\u00a0\u00a0\u00a0indented code"),
        ("Title\n===", "Title  \n&#61;=="),
        ("one\n\ntwo\nthree", "one\n\ntwo  \nthree"),
        (
            "u/someone r/acme ~~gone~~ >!spoiler!< ^up",
            "u\\/someone r\\/acme \\~\\~gone\\~\\~ \\>\\!spoiler\\!\\< \\^up",
        ),
        ("a & b &amp; c", "a \\& b \\&amp; c"),
    ],
)
def test_markdown_that_would_render_is_neutralised(typed: str, markdown: str) -> None:
    assert escape_markdown(typed) == markdown


def test_a_reply_to_a_comment_names_the_comment_and_its_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = Api(httpx.Response(200, content=ON_COMMENT))
    posted = _replier(monkeypatch).post(api.client(), COMMENT, "Comment reply", "k")
    (request,) = api.api()
    assert parse_qs(request.content.decode())["thing_id"] == ["t1_d1616q2"]
    assert posted.external_id == "t1_d1680wu"
    assert posted.created_at == datetime(2016, 3, 20, 0, 33, 51, tzinfo=UTC)
    assert posted.url == "https://www.reddit.com/r/acme/comments/4b1tfm/is_acme_down/d1680wu/"


@pytest.mark.parametrize(
    ("fixture", "kind", "words"),
    [
        ("api_comment_error_ratelimit_from_docs.json", "rate_limited", "try again in 5 minutes"),
        ("api_comment_error_deleted_comment_from_docs.json", "gone", "that comment has been"),
        ("api_comment_error_too_old_from_docs.json", "invalid", "too late to reply to it"),
    ],
)
def test_errors_in_a_200_answer_are_refusals_in_reddits_words(
    monkeypatch: pytest.MonkeyPatch, fixture: str, kind: str, words: str
) -> None:
    api = Api(httpx.Response(200, content=(FIXTURES / fixture).read_bytes()))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(api.client(), POST, "x", "k")
    assert refused.value.kind == kind
    assert words in refused.value.message
    if kind == "rate_limited":
        assert refused.value.retry_after == 300
    if kind != "gone":
        assert "nothing was posted" in refused.value.message


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_that_certainly_posted_nothing_are_refusals(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    # Reddit's own body for a refused token: {"message": "Unauthorized", "error": 401}
    body = {"message": "Unauthorized" if status == 401 else "Forbidden", "error": status}
    api = Api(httpx.Response(status, headers={"Retry-After": "30"}, json=body))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(api.client(), POST, "x", "k")
    assert refused.value.kind == kind
    if kind == "rate_limited":
        assert refused.value.retry_after == 30
    if status == 403:  # Reddit's 403 is also a locked thread or a ban: the agent reads both
        assert "thread is locked" in refused.value.message
    _no_secret(refused.value.message)


def test_a_refused_token_is_dropped_so_the_next_attempt_logs_in_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logins = Logins()
    replier = _replier(monkeypatch, logins=logins)
    api = Api(
        httpx.Response(401, json={"message": "Unauthorized", "error": 401}),
        httpx.Response(200, content=ON_POST),
    )
    with api.client() as client:
        with pytest.raises(ReplyRefused):
            replier.post(client, POST, "x", "k1")
        replier.post(client, POST, "x", "k2")
    assert [str(r.url) for r in api.requests].count(TOKEN_URL) == 2


def test_a_server_error_a_reset_or_no_comment_in_the_answer_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for answer in (
        httpx.Response(502, text="bad gateway"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.Response(200, content=NO_THINGS),
        httpx.Response(200, text="<html>we took too long</html>"),
    ):
        with pytest.raises(ReplyUnknown) as unknown:
            _replier(monkeypatch).post(Api(answer).client(), POST, "x", "k")
        _no_secret(unknown.value.message)
    assert "quarantined" in str(unknown.value) or "could not be read" in str(unknown.value)


def test_a_refused_connection_posted_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api(httpx.ConnectError("connection refused"))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(api.client(), POST, "x", "k")
    assert refused.value.kind == "unreachable"


def test_a_bad_login_is_an_auth_refusal_without_the_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # a wrong password is a 200 with an error (connectors/sources/reddit.py)
        return httpx.Response(200, json={"error": "invalid_grant"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(client, POST, "x", "k")
    assert refused.value.kind == "auth"
    assert "invalid_grant" in refused.value.message
    assert "ACME_REDDIT_PASSWORD" in refused.value.message
    _no_secret(refused.value.message)

    monkeypatch.delenv("ACME_REDDIT_PASSWORD")
    replier = RedditReplier(
        RedditReplyOptions(
            client_id_env="ACME_REDDIT_APP",
            client_secret_env="ACME_REDDIT_APP_SECRET",
            username_env="ACME_REDDIT_USER",
            password_env="ACME_REDDIT_PASSWORD",
        ),
        feed_options=RedditOptions(subreddit="acme", token_url=TOKEN_URL),
        base_url=API,
    )
    assert replier.missing() == "ACME_REDDIT_PASSWORD is not set"


def test_the_options_take_one_way_to_log_in() -> None:
    app = {"client_id_env": "A", "client_secret_env": "B"}
    with pytest.raises(ValidationError):
        RedditReplyOptions(**app)
    with pytest.raises(ValidationError):
        RedditReplyOptions(**app, username_env="U")
    with pytest.raises(ValidationError):
        RedditReplyOptions(**app, username_env="U", password_env="P", refresh_token_env="R")
    assert RedditReplyOptions(**app, refresh_token_env="R").refresh_token_env == "R"


def test_the_limit_counts_the_escaped_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.check("a" * 10_000) is None
    assert replier.check("*" * 5_000) is None  # each star goes out as \*
    problem = replier.check("*" * 5_001)
    assert problem is not None and "at most 10000" in problem and "by 2" in problem


def _thread(*comments: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """GET /comments/{article}: [the post's Listing, the comments' Listing]."""
    listing = {"kind": "Listing", "data": {"children": [], "after": None}}
    things = [{"kind": "t1", "data": c} for c in comments]
    return [listing, {"kind": "Listing", "data": {"children": things, "after": None}}]


def _recorded_comment(fixture: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture)["json"]["data"]["things"][0]["data"]
    return data


def test_find_own_reads_the_thread_for_the_brands_reply_after_since(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = _recorded_comment(ON_POST)
    someone = {**ours, "name": "t1_d162zzz", "id": "d162zzz", "author": "other_user"}
    api = Api(*[httpx.Response(200, json=_thread(someone, ours)) for _ in range(3)])
    replier = _replier(monkeypatch)
    with api.client() as client:
        since = datetime(2016, 3, 19, 21, 39, 0, tzinfo=UTC)
        found = replier.find_own(client, POST, "Test reply", since)
        assert found is not None and found.external_id == "t1_d162ara"
        assert replier.find_own(client, POST, "other words", since) is None
        later = datetime(2016, 3, 19, 22, 0, tzinfo=UTC)
        assert replier.find_own(client, POST, "Test reply", later) is None
    request = api.api()[0]
    assert request.url.path == "/comments/4b1tfm"
    assert dict(request.url.params) == {
        "raw_json": "1",
        "sort": "new",
        "limit": "100",
        "depth": "1",
    }


def test_find_own_under_a_comment_asks_for_that_comments_replies_and_who_we_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = _recorded_comment(ON_COMMENT)
    api = Api(
        httpx.Response(200, json={"name": "<USERNAME>"}),
        httpx.Response(200, json=_thread(ours)),
    )
    replier = _replier(monkeypatch, refresh=True)
    since = datetime(2016, 3, 20, 0, 33, 0, tzinfo=UTC)
    found = replier.find_own(api.client(), COMMENT, "Comment reply", since)
    assert found is not None and found.external_id == "t1_d1680wu"
    token, me, thread = api.requests
    assert parse_qs(token.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-tok-77"],
    }
    assert me.url.path == "/api/v1/me"
    assert thread.url.path == "/comments/4b1tfm"
    assert thread.url.params["comment"] == "d1616q2"
    assert thread.url.params["depth"] == "2"


def test_find_own_that_cannot_read_the_thread_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api(httpx.Response(403, json={"message": "Forbidden", "error": 403}))
    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).find_own(api.client(), POST, "x", datetime(2016, 1, 1, tzinfo=UTC))


def test_a_later_poll_finds_the_posted_reply_stored_not_new(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = Api(httpx.Response(200, content=ON_POST))
    posted = _replier(monkeypatch).post(api.client(), POST, "Test reply", "k")
    # the subreddit's comment stream, as the feed's connector polls it, showing that comment
    comments = {
        "kind": "Listing",
        "data": {"children": [{"kind": "t1", "data": _recorded_comment(ON_POST)}], "after": None},
    }
    monkeypatch.setenv("REDDIT_CLIENT_ID", "app-id-1")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "app-secret-9")
    connector = RedditConnector(
        RedditOptions.model_validate(
            {
                "subreddit": "acme",
                "listings": ["comments"],
                "token_url": TOKEN_URL,
                "backfill": "36500d",  # the recording is from 2016
            }
        ),
        feed_name="acme-reddit",
        identities=(BrandIdentity(platform="reddit", handle="<USERNAME>"),),
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return httpx.Response(200, content=TOKEN)
        return httpx.Response(200, json=comments)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = connector.poll(client, FeedCursor(), datetime(2026, 1, 1, tzinfo=UTC))
    (reply,) = result.brand_replies
    assert reply.external_id == posted.external_id
    assert reply.in_reply_to == POST.external_id
    assert reply.created_at == posted.created_at


def test_posting_through_a_real_http_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_server() as server:
        server.route(
            "/api/v1/access_token", Reply(200, TOKEN, {"Content-Type": "application/json"})
        )
        server.route("/api/comment", Reply(200, ON_COMMENT, {"Content-Type": "application/json"}))
        replier = _replier(
            monkeypatch,
            refresh=True,
            token_url=f"{server.url}/api/v1/access_token",
            base_url=server.url,
        )
        with httpx.Client() as client:
            posted = replier.post(client, COMMENT, "Comment reply", "k")
        token, request = server.requests
    assert token.method == "POST" and token.path == "/api/v1/access_token"
    assert parse_qs(token.body.decode())["grant_type"] == ["refresh_token"]
    assert request.method == "POST" and request.path == "/api/comment"
    assert request.query == {"raw_json": ["1"]}
    assert request.headers["authorization"] == "bearer <ACCESS_TOKEN>"
    assert parse_qs(request.body.decode()) == {
        "api_type": ["json"],
        "thing_id": ["t1_d1616q2"],
        "text": ["Comment reply"],
    }
    assert posted.external_id == "t1_d1680wu"


def test_a_real_server_that_drops_the_connection_after_the_request_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with local_server() as server:
        server.route(
            "/api/v1/access_token", Reply(200, TOKEN, {"Content-Type": "application/json"})
        )
        server.route("/api/comment", Reply(DROP))
        replier = _replier(
            monkeypatch, token_url=f"{server.url}/api/v1/access_token", base_url=server.url
        )
        with httpx.Client() as client, pytest.raises(ReplyUnknown) as unknown:
            replier.post(client, POST, "x", "k")
        url = server.url
    _no_secret(unknown.value.message)
    # the server is gone: its port refuses the connection, and nothing was posted
    replier = _replier(monkeypatch, token_url=f"{url}/api/v1/access_token", base_url=url)
    with httpx.Client() as client, pytest.raises(ReplyRefused) as no_connection:
        replier.post(client, POST, "x", "k")
    assert no_connection.value.kind == "unreachable"


def test_the_access_token_is_kept_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    logins = Logins()
    api = Api(*[httpx.Response(200, content=ON_POST) for _ in range(2)])
    with api.client() as client:
        _replier(monkeypatch, logins=logins).post(client, POST, "x", "k1")
        _replier(monkeypatch, logins=logins).post(client, POST, "x", "k2")
    assert [str(r.url) for r in api.requests].count(TOKEN_URL) == 1
