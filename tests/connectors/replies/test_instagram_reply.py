"""The Instagram writer: a reply in the thread (or on a media that @mentions the account)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.instagram import InstagramReplier, InstagramReplyOptions
from connectors.sources.instagram import InstagramOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.test_instagram import (
    ACCOUNT,
    IKROSKUN,
    LIXIANG,
    MEDIA_NODE,
    OWNER_REPLY,
    Api,
    comments_page,
    connector,
    media_page,
    poll,
    thread,
)
from tests.support.http_server import LocalServer, Reply
from tests.support.mock_http import mock_client

BASE = "https://graph.facebook.com/v26.0"
WRITE_TOKEN = "EAABwriteTOKENinstagram42"


def load(name: str) -> Any:
    return json.loads(fixture_bytes("instagram", name))


# the answers to POST /{ig-comment-id}/replies and POST /{ig-user-id}/mentions (SOURCES.md)
CREATED = load("comment_reply_create_answer_from_docs.json")
MENTION_CREATED = load("mentions_create_answer_from_docs.json")
PERMALINK = MEDIA_NODE["permalink"]
REPLY_AT = datetime(2020, 8, 7, 3, 30, 6, tzinfo=UTC)
# the account's reply as GET /{ig-comment-id}?fields=... returns it: the recorded reply with
# the `user` field the API gives on the account's own comments
OWN_REPLY_NODE = {**OWNER_REPLY, "user": {"id": ACCOUNT}}
# a customer's reply in lixiangguodu123's thread (a stored mention: our row, no payload)
CUSTOMER_REPLY = "17900000000000001"


def target(external_id: str = LIXIANG["id"], **more: Any) -> ReplyTarget:
    values: dict[str, Any] = {
        "platform": "instagram",
        "feed": "ig",
        "external_id": external_id,
        "created_at": datetime(2020, 6, 1, 10, 56, 52, tzinfo=UTC),
        "text": "Beautiful!",
        "author": "lixiangguodu123",
        "url": f"{PERMALINK}c/{external_id}/",
        "thread_id": LIXIANG["id"],
    }
    return ReplyTarget(**{**values, **more})


def replier(monkeypatch: pytest.MonkeyPatch, base: str = BASE, **options: Any) -> InstagramReplier:
    monkeypatch.setenv("ACME_IG_WRITE", WRITE_TOKEN)
    return InstagramReplier(
        InstagramReplyOptions(token_env="ACME_IG_WRITE", **options),
        feed_options=InstagramOptions(ig_user_id=ACCOUNT),
        base_url=base,
    )


def api(created: dict[str, Any] = CREATED, node: dict[str, Any] = OWN_REPLY_NODE) -> Any:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=created if request.method == "POST" else node)

    return seen, handler


def test_a_reply_to_a_top_level_comment_and_instagrams_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen, handler = api()
    with mock_client(handler) as client:
        posted = replier(monkeypatch).post(client, target(), "@lixiangguodu123 nihao", "k")
    create, read = seen
    assert (create.method, str(create.url)) == ("POST", f"{BASE}/{LIXIANG['id']}/replies")
    assert parse_qs(create.content.decode()) == {
        "message": ["@lixiangguodu123 nihao"],
        "access_token": [WRITE_TOKEN],
    }
    assert read.url.path == f"/v26.0/{CREATED['id']}"
    assert read.url.params["fields"] == "id,text,timestamp,username,from,user"
    assert posted.external_id == "17847314687296283"
    assert posted.created_at == REPLY_AT
    assert posted.url == f"{PERMALINK}c/17847314687296283/"
    assert posted.author == "ikroskun" and posted.author_id == ACCOUNT


def test_a_reply_to_a_reply_goes_to_the_thread_and_names_the_customer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen, handler = api()
    answered = target(CUSTOMER_REPLY, parent_id=LIXIANG["id"], author="dana_k")
    with mock_client(handler) as client:
        replier(monkeypatch).post(client, answered, "sorry about that", "k")
        replier(monkeypatch).post(client, answered, "@Dana_K. sorry", "k")
    assert seen[0].url.path == f"/v26.0/{LIXIANG['id']}/replies"
    assert parse_qs(seen[0].content.decode())["message"] == ["@dana_k sorry about that"]
    assert parse_qs(seen[2].content.decode())["message"] == ["@Dana_K. sorry"]  # named already


def test_the_at_name_must_fit_too(monkeypatch: pytest.MonkeyPatch) -> None:
    seen, handler = api()
    answered = target(CUSTOMER_REPLY, parent_id=LIXIANG["id"], author="dana_k")
    writer = replier(monkeypatch, max_characters=20)
    assert writer.check("a" * 20) is None  # the modal sees the text alone
    with mock_client(handler) as client, pytest.raises(ReplyRefused) as refused:
        writer.post(client, answered, "a" * 20, "k")
    assert refused.value.kind == "invalid" and "@dana_k" in refused.value.message
    assert seen == []  # nothing was sent


def test_a_media_that_mentions_the_account_is_answered_through_mentions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    media_id = "17889114512354744"  # the recorded mentioned_media "@ikroskun hey"
    node = {
        "id": MENTION_CREATED["id"],
        "text": "Thanks for the dinosaur!",
        "timestamp": "2021-08-19T10:02:00+0000",
        "username": "ikroskun",
    }
    seen, handler = api(MENTION_CREATED, node)
    media = target(media_id, thread_id=None, url="https://www.instagram.com/p/CS4x/", author="x")
    with mock_client(handler) as client:
        posted = replier(monkeypatch).post(client, media, "Thanks for the dinosaur!", "k")
    assert seen[0].url.path == f"/v26.0/{ACCOUNT}/mentions"
    assert parse_qs(seen[0].content.decode()) == {
        "media_id": [media_id],
        "message": ["Thanks for the dinosaur!"],
        "access_token": [WRITE_TOKEN],
    }
    assert posted.external_id == MENTION_CREATED["id"]
    assert posted.url == f"https://www.instagram.com/p/CS4x/c/{MENTION_CREATED['id']}/"
    with mock_client(handler) as client, pytest.raises(ReplyUnknown, match="check"):
        replier(monkeypatch).find_own(client, media, "x", datetime(2021, 8, 19, tzinfo=UTC))


def test_the_posted_id_is_the_one_the_poll_gives_the_accounts_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Round trip: polling the media with the thread finds the account's reply under the id
    (and address and time) the writer returned."""
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "EAAB-read-token")  # the feed's read token
    polled = poll(
        Api(media=media_page(MEDIA_NODE), comments=comments_page(thread(LIXIANG, OWNER_REPLY))),
        connector(identities=(IKROSKUN,)),
    )
    [reply] = polled.brand_replies
    [mention] = polled.mentions
    _seen, handler = api()
    answered = target(mention.external_id, url=mention.url, thread_id=mention.thread_id)
    with mock_client(handler) as client:
        posted = replier(monkeypatch).post(client, answered, "@lixiangguodu123 nihao", "k")
    assert reply.in_reply_to == mention.external_id
    assert (posted.external_id, posted.created_at, posted.url) == (
        reply.external_id,
        reply.created_at,
        reply.url,
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("error_80002_instagram_buc_limit_from_docs.json", "rate_limited"),
        ("error_190_463_expired_from_docs.json", "auth"),
        ("error_100_33_comment_does_not_exist_from_docs.json", "gone"),
        ("error_hidden_comment_reply_from_docs.json", "invalid"),
    ],
)
def test_metas_error_code_decides(monkeypatch: pytest.MonkeyPatch, name: str, kind: str) -> None:
    body = load(name)
    with (
        mock_client(lambda r: httpx.Response(400, json=body)) as client,
        pytest.raises(ReplyRefused) as refused,
    ):
        replier(monkeypatch).post(client, target(), "hi", "k")
    assert refused.value.kind == kind
    assert WRITE_TOKEN not in refused.value.message
    if kind == "invalid":
        assert "You cannot reply to a hidden comment." in refused.value.message


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_without_an_envelope(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    with (
        mock_client(lambda r: httpx.Response(status, headers={"Retry-After": "60"})) as client,
        pytest.raises(ReplyRefused) as refused,
    ):
        replier(monkeypatch).post(client, target(), "hi", "k")
    assert refused.value.kind == kind


def test_server_errors_and_resets_are_unknown_a_refused_connection_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        mock_client(lambda r: httpx.Response(500, text="oops")) as client,
        pytest.raises(ReplyUnknown),
    ):
        replier(monkeypatch).post(client, target(), "hi", "k")

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    with mock_client(reset) as client, pytest.raises(ReplyUnknown):
        replier(monkeypatch).post(client, target(), "hi", "k")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with mock_client(refused) as client, pytest.raises(ReplyRefused) as no_connection:
        replier(monkeypatch).post(client, target(), "hi", "k")
    assert no_connection.value.kind == "unreachable"


def test_find_own_reads_the_threads_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [OWN_REPLY_NODE]})

    writer = replier(monkeypatch)
    text = "@lixiangguodu123 nihao"
    with mock_client(handler) as client:
        found = writer.find_own(client, target(), text, datetime(2020, 8, 7, 3, 30, tzinfo=UTC))
        assert found is not None and found.external_id == "17847314687296283"
        assert writer.find_own(client, target(), "other", datetime(2020, 8, 1, tzinfo=UTC)) is None
        assert writer.find_own(client, target(), text, datetime(2020, 8, 8, tzinfo=UTC)) is None
    assert seen[0].url.path == f"/v26.0/{LIXIANG['id']}/replies"
    with (
        mock_client(lambda r: httpx.Response(401, json={})) as client,
        pytest.raises(ReplyUnknown),
    ):  # could not look: never "refused"
        writer.find_own(client, target(), text, datetime(2020, 8, 1, tzinfo=UTC))


def test_the_length_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = replier(monkeypatch)
    assert writer.check("a" * 2200) is None
    assert writer.check("a" * 2201) is not None
    assert writer.check(" ") == "The reply is empty."


def test_a_reply_through_a_real_local_server(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer
) -> None:
    server.route(f"/v26.0/{LIXIANG['id']}/replies", Reply.json(CREATED))
    server.route(f"/v26.0/{CREATED['id']}", Reply.json(OWN_REPLY_NODE))
    writer = replier(monkeypatch, base=f"{server.url}/v26.0")
    with httpx.Client() as client:
        posted = writer.post(client, target(), "@lixiangguodu123 nihao", "k")
    create, read = server.requests
    assert (create.method, create.path) == ("POST", f"/v26.0/{LIXIANG['id']}/replies")
    assert parse_qs(create.body.decode())["access_token"] == [WRITE_TOKEN]
    assert (read.method, read.query["fields"]) == ("GET", ["id,text,timestamp,username,from,user"])
    assert (posted.external_id, posted.created_at) == ("17847314687296283", REPLY_AT)
