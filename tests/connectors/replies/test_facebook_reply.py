"""The Facebook writer: the exact requests, the Page's recorded reply, Meta's error codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.metagraph import appsecret_proof
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.facebook import FacebookReplier, FacebookReplyOptions
from connectors.sources.facebook import FacebookOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.test_facebook import (
    C2,
    NOW,
    PAGE_ID,
    POST_ID,
    POST_OBJECT,
    REPLY_C2,
    Graph,
    connector,
    recorded_stream,
)
from tests.support.http_server import LocalServer, Reply
from tests.support.mock_http import mock_client, poll_with

BASE = "https://graph.facebook.com/v26.0"
WRITE_TOKEN = "EAAGwriteTOKENforthePage123"
SECRET = "app-secret-abc123"
# the answer to POST /{object-id}/comments, built from the reference (SOURCES.md there)
CREATED: dict[str, Any] = json.loads(
    fixture_bytes("facebook", "comment_create_answer_from_docs.json")
)
REPLY_AT = datetime(2021, 8, 11, 23, 22, 14, tzinfo=UTC)  # the Page's recorded reply to C2
# a customer's reply in C2's thread, 49 s after the Page's reply (recorded)
LATE_C2 = f"{POST_OBJECT}_10158409984053553"
# the Page's answer to LATE_C2, posted in C2's thread: derived from the Page's recorded reply
LATER = f"{POST_OBJECT}_10158412000000553"


def stream() -> list[dict[str, Any]]:
    """The recorded comments (ids, parents and authors as tests/connectors/test_facebook.py
    derives them), newest first, with the Page's later answer in C2's thread on top."""
    comments = recorded_stream()["data"]
    page_reply = next(c for c in comments if c["id"] == REPLY_C2)
    later = {
        **page_reply,
        "id": LATER,
        "message": "Sorry for the wait: please write to us in Messenger",
        "created_time": "2021-08-12T09:00:00+0000",
        "permalink_url": page_reply["permalink_url"].replace(
            "10158409983033553", "10158412000000553"
        ),
    }
    return [later, *comments]


def node(comment_id: str) -> dict[str, Any]:
    """GET /{comment-id}: the comment as the stream shows it."""
    return next(c for c in stream() if c["id"] == comment_id)


def target(external_id: str = C2, thread_id: str | None = C2, **more: Any) -> ReplyTarget:
    return ReplyTarget(
        platform="facebook",
        feed="fb",
        external_id=external_id,
        created_at=datetime(2021, 8, 10, 19, 38, 44, tzinfo=UTC),
        text="Can someone from Instagram please assist me",
        parent_id=POST_ID if thread_id == external_id else thread_id,
        thread_id=thread_id,
        **more,
    )


def replier(monkeypatch: pytest.MonkeyPatch, base: str = BASE, **options: Any) -> FacebookReplier:
    monkeypatch.setenv("ACME_FB_WRITE", WRITE_TOKEN)
    monkeypatch.setenv("ACME_FB_SECRET", SECRET)
    return FacebookReplier(
        FacebookReplyOptions(token_env="ACME_FB_WRITE", **options),
        feed_options=FacebookOptions(page_id=PAGE_ID),
        base_url=base,
    )


def graph(created: dict[str, Any] = CREATED, status: int = 200) -> tuple[list[httpx.Request], Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(status, json=created)
        comment_id = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, json=node(comment_id))

    return seen, handler


def test_post_comments_under_the_comment_and_reads_back_facebooks_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen, handler = graph()
    text = "Hi, please access the Instagram Help Center"
    with mock_client(handler) as client:
        posted = replier(monkeypatch).post(client, target(), text, "monitor-reply-1")
    create, read = seen
    assert create.method == "POST"
    assert create.url == f"{BASE}/{C2}/comments"
    assert not create.url.query  # the token travels in the form, not the URL
    assert parse_qs(create.content.decode()) == {
        "message": [text],
        "access_token": [WRITE_TOKEN],
    }
    assert read.method == "GET"
    assert read.url.path == f"/v26.0/{REPLY_C2}"
    assert read.url.params["fields"] == "id,message,created_time,from,parent{id},permalink_url"
    assert read.url.params["access_token"] == WRITE_TOKEN
    assert posted.external_id == REPLY_C2
    assert posted.created_at == REPLY_AT
    assert posted.author_id == PAGE_ID and posted.author == "Facebook for Developers"
    assert posted.url is not None and posted.url.startswith("https://www.facebook.com/")


def test_appsecret_proof_goes_with_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    seen, handler = graph()
    with mock_client(handler) as client:
        replier(monkeypatch, app_secret_env="ACME_FB_SECRET").post(client, target(), "hi", "k")
    proof = appsecret_proof(WRITE_TOKEN, SECRET)
    assert parse_qs(seen[0].content.decode())["appsecret_proof"] == [proof]
    assert seen[1].url.params["appsecret_proof"] == proof


def test_a_reply_in_a_thread_is_posted_under_its_top_level_comment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Graph nests two deep: the Page answers in the thread, and the feed's connector gives
    that answer to the other comment the id `<reply>/<comment>`."""
    seen, handler = graph({"id": LATER})
    with mock_client(handler) as client:
        posted = replier(monkeypatch).post(client, target(LATE_C2, C2), "Sorry", "k")
    assert seen[0].url.path == f"/v26.0/{C2}/comments"
    assert posted.external_id == f"{LATER}/{LATE_C2}"


def test_a_visitor_post_gets_a_top_level_comment(monkeypatch: pytest.MonkeyPatch) -> None:
    visitor = f"{PAGE_ID}_777"
    comment = {
        "id": "777_1",
        "message": "Thanks, we are on it",
        "created_time": "2021-08-12T10:00:00+0000",
        "from": {"name": "Facebook for Developers", "id": PAGE_ID},
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "777_1"} if request.method == "POST" else comment)

    with mock_client(handler) as client:
        posted = replier(monkeypatch).post(client, target(visitor, None), "Thanks", "k")
    assert seen[0].url.path == f"/v26.0/{visitor}/comments"
    assert posted.external_id == "777_1"  # as the poll gives a top-level Page comment


def test_the_posted_id_is_the_one_the_poll_gives_the_pages_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Round trip: the poll of the recorded post finds the Page's answers to C2 and to the
    reply in C2's thread under the ids the writer returned: stored, not new."""
    monkeypatch.setenv("FACEBOOK_PAGE_TOKEN", "EAAGreadTOKEN")  # the feed's read token
    page = recorded_stream()
    page["data"] = stream()
    result = poll_with(connector(), Graph(comments=page), NOW)
    polled = {(r.in_reply_to, r.external_id) for r in result.brand_replies}
    for answered, created in ((target(), REPLY_C2), (target(LATE_C2, C2), LATER)):
        _seen, handler = graph({"id": created})
        with mock_client(handler) as client:
            posted = replier(monkeypatch).post(client, answered, "hi", "k")
            assert (answered.external_id, posted.external_id) in polled
            reply = next(r for r in result.brand_replies if r.external_id == posted.external_id)
            assert reply.created_at == posted.created_at


def refusal(monkeypatch: pytest.MonkeyPatch, status: int, body: Any) -> ReplyRefused:
    handler = lambda request: httpx.Response(status, json=body)  # noqa: E731
    with mock_client(handler) as client, pytest.raises(ReplyRefused) as refused:
        replier(monkeypatch).post(client, target(), "hi", "k")
    assert WRITE_TOKEN not in refused.value.message
    return refused.value


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("error_4_app_request_limit_from_docs.json", "rate_limited"),
        ("error_32_page_request_limit_from_docs.json", "rate_limited"),
        ("error_80001_pages_buc_limit_from_docs.json", "rate_limited"),
        ("error_190_463_expired_from_docs.json", "auth"),
        ("error_10_permission_from_docs.json", "auth"),
        ("error_100_33_does_not_exist_from_docs.json", "gone"),
        ("error_100_invalid_parameter_from_docs.json", "invalid"),
    ],
)
def test_metas_error_code_decides_what_a_400_means(
    monkeypatch: pytest.MonkeyPatch, name: str, kind: str
) -> None:
    body = json.loads(fixture_bytes("facebook", name))
    refused = refusal(monkeypatch, 400, body)
    assert refused.kind == kind
    assert body["error"]["message"][:40] in refused.message  # Meta's own words
    assert "nothing was posted" in refused.message or kind == "gone"
    if kind == "rate_limited":
        assert refused.retry_after and refused.retry_after > 0
    if kind == "invalid":
        assert "Your comment could not be posted." in refused.message


def test_a_token_quoted_by_meta_is_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.loads(fixture_bytes("facebook", "error_190_malformed_token_from_docs.json"))
    fake = "EAAGm0PX4ZCpsBAKZCZCfakefaketoken"
    monkeypatch.setenv("ACME_FB_WRITE", fake)
    handler = lambda request: httpx.Response(400, json=body)  # noqa: E731
    writer = FacebookReplier(
        FacebookReplyOptions(token_env="ACME_FB_WRITE"),
        feed_options=FacebookOptions(page_id=PAGE_ID),
        base_url=BASE,
    )
    with mock_client(handler) as client, pytest.raises(ReplyRefused) as refused:
        writer.post(client, target(), "hi", "k")
    assert refused.value.kind == "auth"
    assert fake not in refused.value.message and "ACME_FB_WRITE" in refused.value.message


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_without_an_envelope(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    assert refusal(monkeypatch, status, {}).kind == kind


def test_server_errors_resets_and_refused_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    transient = {"error": {"message": "An unknown error occurred", "code": 1, "type": "x"}}
    for status in (500, 503):
        handler = lambda request, s=status: httpx.Response(s, json=transient)  # noqa: E731
        with mock_client(handler) as client, pytest.raises(ReplyUnknown):
            replier(monkeypatch).post(client, target(), "hi", "k")
    # code 1 on a 400: Meta's own trouble, the comment may exist
    with (
        mock_client(lambda r: httpx.Response(400, json=transient)) as client,
        pytest.raises(ReplyUnknown),
    ):
        replier(monkeypatch).post(client, target(), "hi", "k")

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with mock_client(reset) as client, pytest.raises(ReplyUnknown):
        replier(monkeypatch).post(client, target(), "hi", "k")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with mock_client(refused) as client, pytest.raises(ReplyRefused) as no_connection:
        replier(monkeypatch).post(client, target(), "hi", "k")
    assert no_connection.value.kind == "unreachable"


def test_a_comment_created_but_not_read_back_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json=CREATED)
        return httpx.Response(502, text="bad gateway")

    with mock_client(handler) as client, pytest.raises(ReplyUnknown) as unknown:
        replier(monkeypatch).post(client, target(), "hi", "k")
    assert REPLY_C2 in unknown.value.message


def test_find_own_finds_the_pages_comment_with_the_text_after_since(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    thread = [c for c in stream() if c.get("parent", {}).get("id") == C2]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": thread})

    text = node(REPLY_C2)["message"]
    writer = replier(monkeypatch)
    with mock_client(handler) as client:
        found = writer.find_own(client, target(), text, datetime(2021, 8, 11, 23, tzinfo=UTC))
        assert found is not None and found.external_id == REPLY_C2
        assert (
            writer.find_own(client, target(), "other text", datetime(2021, 8, 1, tzinfo=UTC))
            is None
        )
        late = datetime(2021, 8, 12, tzinfo=UTC)
        assert writer.find_own(client, target(), text, late) is None
    assert seen[0].url.path == f"/v26.0/{C2}/comments"
    assert seen[0].url.params["order"] == "reverse_chronological"


def test_find_own_that_cannot_ask_is_unknown_never_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = json.loads(fixture_bytes("facebook", "error_4_app_request_limit_from_docs.json"))
    with (
        mock_client(lambda r: httpx.Response(400, json=body)) as client,
        pytest.raises(ReplyUnknown),
    ):
        replier(monkeypatch).find_own(client, target(), "hi", NOW)


def test_the_length_is_checked_before_posting(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = replier(monkeypatch)
    assert writer.check("a" * 8000) is None
    problem = writer.check("a" * 8001)
    assert problem is not None and "at most 8000" in problem
    assert replier(monkeypatch, max_characters=100).check("a" * 101) is not None


def test_missing_names_the_unset_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = replier(monkeypatch, app_secret_env="ACME_FB_SECRET")
    assert writer.missing() is None
    monkeypatch.delenv("ACME_FB_SECRET")
    assert writer.missing() == "ACME_FB_SECRET is not set"


def test_a_reply_through_a_real_local_server(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer
) -> None:
    server.route(f"/v26.0/{C2}/comments", Reply.json(CREATED))
    server.route(f"/v26.0/{REPLY_C2}", Reply.json(node(REPLY_C2)))
    writer = replier(monkeypatch, base=f"{server.url}/v26.0")
    with httpx.Client() as client:
        posted = writer.post(client, target(), "Hi, please access the Help Center", "k")
    create, read = server.requests
    assert (create.method, create.path) == ("POST", f"/v26.0/{C2}/comments")
    assert create.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(create.body.decode())["message"] == ["Hi, please access the Help Center"]
    assert (read.method, read.query["access_token"]) == ("GET", [WRITE_TOKEN])
    assert (posted.external_id, posted.created_at) == (REPLY_C2, REPLY_AT)
