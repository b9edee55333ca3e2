"""The Google Play writer: reviews.reply as documented, each failure, and the round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors import BrandIdentity
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.googleplay import GooglePlayReplier, GooglePlayReplyOptions
from connectors.sources.googleplay import GooglePlayConnector, GooglePlayOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import Reply, Request, local_server
from tests.support.keys import service_account_key
from tests.support.mock_http import answering, failing, mock_client, poll_with

# Google's docs example answer to POST .../reviews/{id}:reply (SOURCES.md there)
RESULT = fixture_bytes("googleplay", "reviews_reply_result_DOCS_EXAMPLE.json")
# reviews.get of the docs example's review 11223344 once that reply is on it
REVIEW = fixture_bytes("googleplay", "reviews_get_11223344_with_our_reply_from_docs.json")
DOCS_LIST = fixture_bytes("googleplay", "reviews_list_DOCS_EXAMPLE_with_developerComment.json")
ERROR_401 = fixture_bytes("googleplay", "error_401_permissionDenied_from_docs.json")
INVALID_GRANT = fixture_bytes("googleplay", "oauth2_token_invalid_grant_from_docs.json")
REPLY_URL = (
    "https://androidpublisher.googleapis.com/androidpublisher/v3/applications/"
    "com.example.app/reviews/11223344:reply"
)
REPLIED_AT = datetime(2016, 1, 28, 11, 0, 3, 796000, tzinfo=UTC)  # lastEdited 1453978803.796
SECRET = "ya29.write-token-123"
TARGET = ReplyTarget(
    platform="googleplay",
    feed="android",
    external_id="11223344",
    created_at=datetime(1974, 6, 27, 16, 22, 14, 213000, tzinfo=UTC),
    text="I love using this app!",
    url="https://play.google.com/store/apps/details?id=com.example.app&reviewId=11223344",
    author="John Doe",
)


def _replier(
    monkeypatch: pytest.MonkeyPatch, base_url: str = "https://androidpublisher.googleapis.com"
) -> GooglePlayReplier:
    monkeypatch.setenv("PLAY_WRITE_TOKEN", SECRET)
    return GooglePlayReplier(
        GooglePlayReplyOptions(access_token_env="PLAY_WRITE_TOKEN"),
        feed_options=GooglePlayOptions(package_name="com.example.app"),
        base_url=base_url,
    )


def test_post_sets_the_reply_text_and_returns_googles_last_edited_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=RESULT)

    posted = _replier(monkeypatch).post(
        mock_client(handler), TARGET, "Thanks for your feedback!", "monitor-reply-3-1"
    )
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == REPLY_URL
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert json.loads(request.content) == {"replyText": "Thanks for your feedback!"}
    assert posted.external_id == "11223344:reply"
    assert posted.created_at == REPLIED_AT
    assert posted.text == "Thanks for your feedback!"
    assert posted.url == TARGET.url


def test_a_refusal_quotes_googles_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # Google's error envelope (https://cloud.google.com/apis/design/errors), as in the 401 fixture
    answer = {"error": {"code": 400, "message": "Reply text is too long.", "status": "INVALID"}}
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(answering(400, json.dumps(answer).encode()), TARGET, "x", "k")
    assert refused.value.kind == "invalid"
    assert "Reply text is too long." in refused.value.message
    assert "nothing was posted" in refused.value.message


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, ERROR_401, "auth"),
        (403, ERROR_401, "auth"),
        (404, b"{}", "gone"),
        (429, b"{}", "rate_limited"),
    ],
)
def test_statuses_that_certainly_set_nothing_are_refusals_without_the_token(
    monkeypatch: pytest.MonkeyPatch, status: int, body: bytes, kind: str
) -> None:
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(
            answering(status, body, **{"Retry-After": "30"}), TARGET, "x", "k"
        )
    assert refused.value.kind == kind
    assert SECRET not in refused.value.message
    if kind == "auth":
        assert "insufficient permissions" in refused.value.message
    if kind == "rate_limited":
        assert refused.value.retry_after == 30


def test_a_server_error_or_a_reset_is_unknown_and_a_refused_connection_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).post(answering(503, b"unavailable"), TARGET, "x", "k")

    with pytest.raises(ReplyUnknown) as unknown:
        _replier(monkeypatch).post(
            failing(httpx.RemoteProtocolError, "peer closed connection"), TARGET, "x", "k"
        )
    assert SECRET not in unknown.value.message

    with pytest.raises(ReplyRefused) as no_connection:
        _replier(monkeypatch).post(
            failing(httpx.ConnectError, "connection refused"), TARGET, "x", "k"
        )
    assert no_connection.value.kind == "unreachable"


def test_an_answer_without_a_result_leaves_the_outcome_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ReplyUnknown, match="no `result`"):
        _replier(monkeypatch).post(answering(200, b"{}"), TARGET, "x", "k")


def test_length_and_html_tags_are_checked_before_posting(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.check("é" * 350) is None
    problem = replier.check("a" * 351)
    assert problem is not None and "at most 350 characters" in problem and "by 1" in problem
    tag = replier.check("Thanks! <b>Update</b> to 5.2")
    assert tag is not None and "'<b>'" in tag and "removes HTML tags" in tag
    assert replier.check("a < b, and we <3 you") is None
    assert replier.check("  ") == "The reply is empty."


def test_find_own_reads_the_review_for_our_reply_since(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=REVIEW)

    replier = _replier(monkeypatch)
    client = mock_client(handler)
    found = replier.find_own(client, TARGET, "Thanks for your feedback!", REPLIED_AT)
    assert found is not None
    assert found.external_id == "11223344:reply" and found.created_at == REPLIED_AT
    assert seen[0].method == "GET" and str(seen[0].url) == REPLY_URL.removesuffix(":reply")
    assert seen[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert replier.find_own(client, TARGET, "another text", REPLIED_AT) is None
    later = datetime(2016, 1, 28, 11, 0, 4, tzinfo=UTC)
    assert replier.find_own(client, TARGET, "Thanks for your feedback!", later) is None


def test_the_posted_reply_is_the_one_a_later_poll_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    posted = _replier(monkeypatch).post(answering(200, RESULT), TARGET, "Thanks!", "k")
    # reviews.list (Google's docs example) once our reply is the review's developerComment
    listing = json.loads(DOCS_LIST)
    listing["reviews"][1] = json.loads(REVIEW)
    del listing["tokenPagination"]
    monkeypatch.setenv("PLAY_READ_TOKEN", "ya29.read")
    connector = GooglePlayConnector(
        GooglePlayOptions(package_name="com.example.app", access_token_env="PLAY_READ_TOKEN"),
        feed_name="android",
        identities=[BrandIdentity("googleplay", handle="Example Team")],
    )
    now = datetime(2026, 11, 23, tzinfo=UTC)
    result = poll_with(connector, lambda r: httpx.Response(200, json=listing), now)
    (reply,) = result.brand_replies
    assert reply.external_id == posted.external_id
    assert reply.created_at == posted.created_at
    assert reply.in_reply_to == TARGET.external_id


def test_options_need_exactly_one_credential_and_missing_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="one of credentials_path_env and access_token_env"):
        GooglePlayReplyOptions()
    with pytest.raises(ValueError, match="one of"):
        GooglePlayReplyOptions(credentials_path_env="A", access_token_env="B")
    replier = _replier(monkeypatch)
    assert replier.missing() is None
    monkeypatch.delenv("PLAY_WRITE_TOKEN")
    assert replier.missing() == "PLAY_WRITE_TOKEN is not set"
    assert GooglePlayReplier.replaces_existing is True and GooglePlayReplier.takes_key is True


def _service_replier(
    monkeypatch: pytest.MonkeyPatch, key: Path, base_url: str
) -> GooglePlayReplier:
    monkeypatch.setenv("PLAY_WRITE_KEY", str(key))
    return GooglePlayReplier(
        GooglePlayReplyOptions(credentials_path_env="PLAY_WRITE_KEY"),
        feed_options=GooglePlayOptions(package_name="com.example.app"),
        base_url=base_url,
    )


def test_end_to_end_the_service_account_token_then_the_reply_on_a_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reply(request: Request) -> Reply:
        if request.headers.get("authorization") != "Bearer ya29.minted":
            return Reply(401, ERROR_401)
        return Reply(200, RESULT, {"Content-Type": "application/json"})

    with local_server() as server:
        server.route("/token", Reply.json({"access_token": "ya29.minted", "expires_in": 3600}))
        server.route("/androidpublisher/v3/applications/com.example.app/reviews/*", reply)
        key = service_account_key(tmp_path, f"{server.url}/token")
        replier = _service_replier(monkeypatch, key, server.url)
        with httpx.Client() as client:
            posted = replier.post(client, TARGET, "Thanks for your feedback!", "k1")
            again = replier.post(client, TARGET, "Thanks for your feedback!", "k1")
    token, first, second = server.requests
    assert token.path == "/token" and b"grant_type" in token.body
    assert first.method == "POST"
    assert first.path == "/androidpublisher/v3/applications/com.example.app/reviews/11223344:reply"
    assert first.json() == {"replyText": "Thanks for your feedback!"}
    assert second.json() == first.json()  # one token for both; the resend replaces, not adds
    assert posted == again
    assert posted.external_id == "11223344:reply" and posted.created_at == REPLIED_AT


def test_a_refused_service_account_posts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local_server() as server:
        server.route("/token", Reply(400, INVALID_GRANT, {"Content-Type": "application/json"}))
        key = service_account_key(tmp_path, f"{server.url}/token")
        replier = _service_replier(monkeypatch, key, server.url)
        with httpx.Client() as client, pytest.raises(ReplyRefused) as refused:
            replier.post(client, TARGET, "x", "k")
    assert refused.value.kind == "auth"
    assert "PLAY_WRITE_KEY" in refused.value.message
    assert "nothing was posted" in refused.value.message
    assert [r.path for r in server.requests] == ["/token"]


def test_an_unreadable_key_file_is_an_auth_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replier = _service_replier(monkeypatch, tmp_path / "absent.json", "http://127.0.0.1:9")
    with pytest.raises(ReplyRefused) as refused:
        replier.post(answering(200, RESULT), TARGET, "x", "k")
    assert refused.value.kind == "auth" and "cannot read" in refused.value.message
