"""The Google Business Profile writer: updateReply, each failure, and the round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from connectors import BrandIdentity
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.googlebusiness import GoogleBusinessReplier, GoogleBusinessReplyOptions
from connectors.sources.googlebusiness import GoogleBusinessConnector, GoogleBusinessOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import Reply, Request, local_server
from tests.support.mock_http import answering, failing, mock_client, poll_with

ACCOUNT, LOCATION = "108494581129006735086", "6394464039148850881"
REVIEW_ID = "AbFvOqmDfUP0EhJuYm-w3KXy3gSxYn-NS9CiDOo4tOjO4PRuq4PWUWbGkh6K-fePdKQaXi0cycFGGg"
REVIEW_PATH = f"/v4/accounts/{ACCOUNT}/locations/{LOCATION}/reviews/{REVIEW_ID}"
# the ReviewReply updateReply answers with (SOURCES.md there)
ANSWER = fixture_bytes("googlebusiness", "updateReply_answer_ReviewReply_from_docs.json")
REVIEW = fixture_bytes(
    "googlebusiness", "review_get_2021_with_reviewReply_16min_PARTLY_EDITED.json"
)
LISTING = fixture_bytes(
    "googlebusiness", "reviews_list_2021_reply_16min_and_null_reply_PARTLY_EDITED.json"
)
ERROR_401 = fixture_bytes("googlebusiness", "error_401_UNAUTHENTICATED_googleapis_TRANSCRIBED.json")
ERROR_403 = fixture_bytes("googlebusiness", "error_403_api_disabled_from_docs.json")
INVALID_GRANT = fixture_bytes("googlebusiness", "token_invalid_grant_from_docs.json")
REPLIED_AT = datetime(2021, 3, 2, 11, 3, 45, 142000, tzinfo=UTC)
SECRET = "ya29.gbp-write-123"
TARGET = ReplyTarget(
    platform="googlebusiness",
    feed="acme-google",
    external_id=REVIEW_ID,
    created_at=datetime(2021, 3, 2, 10, 47, 32, 807000, tzinfo=UTC),
    text="Awesome service!",
    author="Ihor K",
)


def _replier(
    monkeypatch: pytest.MonkeyPatch, base_url: str = "https://mybusiness.googleapis.com"
) -> GoogleBusinessReplier:
    monkeypatch.setenv("GBP_WRITE_TOKEN", SECRET)
    return GoogleBusinessReplier(
        GoogleBusinessReplyOptions(access_token_env="GBP_WRITE_TOKEN"),
        feed_options=GoogleBusinessOptions(account=f"accounts/{ACCOUNT}", location=LOCATION),
        base_url=base_url,
    )


def test_put_sets_the_comment_and_returns_googles_update_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=ANSWER)

    posted = _replier(monkeypatch).post(mock_client(handler), TARGET, "Thx :)", "monitor-1-1")
    (request,) = seen
    assert request.method == "PUT"
    assert str(request.url) == f"https://mybusiness.googleapis.com{REVIEW_PATH}/reply"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(request.content) == {"comment": "Thx :)"}
    assert posted.external_id == f"{REVIEW_ID}:reply"
    assert posted.created_at == REPLIED_AT
    assert posted.text == "Thx :)"


def test_an_unverified_location_is_refused_with_googles_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Google's error envelope, as in the 401/403 fixtures; the precondition the docs state
    answer = {
        "error": {
            "code": 400,
            "message": "The location is not verified.",
            "status": "FAILED_PRECONDITION",
        }
    }
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(answering(400, json.dumps(answer).encode()), TARGET, "x", "k")
    assert refused.value.kind == "invalid"
    assert "The location is not verified." in refused.value.message


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (401, ERROR_401, "auth", "invalid authentication credentials"),
        (403, ERROR_403, "auth", "has not been used in project"),
        (404, b"{}", "gone", ""),
        (429, b"{}", "rate_limited", ""),
    ],
)
def test_statuses_that_certainly_set_nothing_are_refusals_without_the_token(
    monkeypatch: pytest.MonkeyPatch, status: int, body: bytes, kind: str, words: str
) -> None:
    client = answering(status, body, **{"Retry-After": "12"})
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(client, TARGET, "x", "k")
    assert refused.value.kind == kind
    assert words in refused.value.message
    assert SECRET not in refused.value.message


def test_a_server_error_or_a_reset_is_unknown_and_a_refused_connection_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).post(answering(500, b"oops"), TARGET, "x", "k")

    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).post(
            failing(httpx.ReadError, "connection reset by peer"), TARGET, "x", "k"
        )

    with pytest.raises(ReplyRefused) as no_connection:
        _replier(monkeypatch).post(
            failing(httpx.ConnectError, "connection refused"), TARGET, "x", "k"
        )
    assert no_connection.value.kind == "unreachable"
    with pytest.raises(ReplyUnknown, match="lacks the reply's updateTime"):
        _replier(monkeypatch).post(answering(200, b'{"comment": "x"}'), TARGET, "x", "k")


def test_the_limit_is_4096_utf8_bytes_and_tags_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replier = _replier(monkeypatch)
    assert replier.check("a" * 4096) is None
    assert replier.check("é" * 2048) is None  # two bytes each
    problem = replier.check("é" * 2049)
    assert problem is not None
    assert "at most 4096 bytes (UTF-8)" in problem and "has 4098" in problem
    tag = replier.check("Come back <a href='x'>here</a>")
    assert tag is not None and "<a href='x'>" in tag


def test_find_own_reads_the_review_for_our_reply_since(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=REVIEW)

    replier = _replier(monkeypatch)
    client = mock_client(handler)
    found = replier.find_own(client, TARGET, "Thx :)", REPLIED_AT)
    assert found is not None and found.external_id == f"{REVIEW_ID}:reply"
    assert found.created_at == REPLIED_AT
    assert seen[0].method == "GET" and seen[0].url.path == REVIEW_PATH
    assert replier.find_own(client, TARGET, "Thanks!", REPLIED_AT) is None
    later = datetime(2021, 3, 2, 11, 4, tzinfo=UTC)
    assert replier.find_own(client, TARGET, "Thx :)", later) is None


def test_the_posted_reply_is_the_one_a_later_poll_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    posted = _replier(monkeypatch).post(answering(200, ANSWER), TARGET, "Thx :)", "k")
    monkeypatch.setenv("GBP_READ_TOKEN", "ya29.read")
    connector = GoogleBusinessConnector(
        GoogleBusinessOptions(
            account=ACCOUNT, location=LOCATION, access_token_env="GBP_READ_TOKEN"
        ),
        feed_name="acme-google",
        identities=[BrandIdentity("googlebusiness", handle="Acme Coffee")],
    )
    now = datetime(2021, 3, 3, tzinfo=UTC)
    result = poll_with(connector, lambda r: httpx.Response(200, content=LISTING), now)
    replies = {r.external_id: r for r in result.brand_replies}
    assert posted.external_id in replies
    assert replies[posted.external_id].created_at == posted.created_at
    assert replies[posted.external_id].in_reply_to == REVIEW_ID


def test_options_need_one_login_and_missing_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="either access_token_env or the refresh-token login"):
        GoogleBusinessReplyOptions()
    with pytest.raises(ValueError, match="needs all of"):
        GoogleBusinessReplyOptions(refresh_token_env="R")
    replier = _replier(monkeypatch)
    assert replier.missing() is None
    monkeypatch.delenv("GBP_WRITE_TOKEN")
    assert replier.missing() == "GBP_WRITE_TOKEN is not set"
    assert GoogleBusinessReplier.replaces_existing is True


def _refresh_replier(monkeypatch: pytest.MonkeyPatch, base_url: str) -> GoogleBusinessReplier:
    monkeypatch.setenv("GBP_REPLY_CLIENT_ID", "client-9.apps.googleusercontent.com")
    monkeypatch.setenv("GBP_REPLY_CLIENT_SECRET", "client-secret-9")
    monkeypatch.setenv("GBP_REPLY_REFRESH", "1//refresh-9")
    return GoogleBusinessReplier(
        GoogleBusinessReplyOptions(
            client_id_env="GBP_REPLY_CLIENT_ID",
            client_secret_env="GBP_REPLY_CLIENT_SECRET",
            refresh_token_env="GBP_REPLY_REFRESH",
            token_uri=f"{base_url}/token",
        ),
        feed_options=GoogleBusinessOptions(account=ACCOUNT, location=LOCATION),
        base_url=base_url,
    )


def test_end_to_end_the_refresh_token_then_the_reply_on_a_local_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def reply(request: Request) -> Reply:
        if request.headers.get("authorization") != "Bearer ya29.fresh":
            return Reply(401, ERROR_401)
        return Reply(200, ANSWER, {"Content-Type": "application/json"})

    with local_server() as server:
        server.route(
            "/token",
            Reply.json({"access_token": "ya29.fresh", "expires_in": 3599, "token_type": "Bearer"}),
        )
        server.route(f"{REVIEW_PATH}/reply", reply)
        replier = _refresh_replier(monkeypatch, server.url)
        with httpx.Client() as client:
            posted = replier.post(client, TARGET, "Thx :)", "k1")
            again = replier.post(client, TARGET, "Thx :)", "k1")
    token, first, second = server.requests
    form = parse_qs(token.body.decode())
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["1//refresh-9"]
    assert (first.method, first.path) == ("PUT", f"{REVIEW_PATH}/reply")
    assert first.json() == {"comment": "Thx :)"} == second.json()
    assert posted == again and posted.created_at == REPLIED_AT


def test_a_revoked_refresh_token_posts_nothing_and_names_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with local_server() as server:
        server.route("/token", Reply(400, INVALID_GRANT, {"Content-Type": "application/json"}))
        replier = _refresh_replier(monkeypatch, server.url)
        with httpx.Client() as client, pytest.raises(ReplyRefused) as refused:
            replier.post(client, TARGET, "x", "k")
    assert refused.value.kind == "auth"
    assert "GBP_REPLY_REFRESH" in refused.value.message
    assert "1//refresh-9" not in refused.value.message
    assert "client-secret-9" not in refused.value.message
    assert [r.path for r in server.requests] == ["/token"]
