"""The Bluesky writer: the exact XRPC requests, the record key that makes a resend harmless,
each failure, and the reply as the feed's connector reads it back."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors import BrandIdentity, FeedCursor
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.bluesky import (
    BlueskyReplier,
    BlueskyReplyOptions,
    link_facets,
    record_key,
)
from connectors.sources.bluesky import BlueskyConnector, BlueskyOptions, parse_time
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import LocalServer, Reply, Request, local_server
from tests.support.mock_http import Recording, mock_client

SESSION = json.loads(fixture_bytes("bluesky", "createSession_from_docs.json"))  # shinyakato.dev
BRAND_DID = "did:plc:iijrtk7ocored6zuziwmqq3c"
FOCUS = json.loads(fixture_bytes("bluesky", "getPosts_hellthread_focus_post_from_docs.json"))
GATED = json.loads(fixture_bytes("bluesky", "getPosts_thread_gated_replyDisabled_2023.json"))
CREATED = json.loads(fixture_bytes("bluesky", "createRecord_post_2023.json"))
EARLIER = json.loads(fixture_bytes("bluesky", "getRecord_brand_reply_to_own_post_2023.json"))
THREAD = json.loads(
    fixture_bytes("bluesky", "getPostThread_hellthread_deep_parent_chain_2023.json")
)
SEARCH = json.loads(fixture_bytes("bluesky", "searchPosts_single_hit_2023.json"))
# skeet.computer's reply inside the recorded hellthread: the mention being answered
TARGET = ReplyTarget(
    platform="bluesky",
    feed="acme-bluesky",
    external_id="at://did:plc:iuk433sj23ncu2oo2pfnw7fw/app.bsky.feed.post/3jujgsslyxt2h",
    created_at=datetime(2023, 4, 29, 15, 25, 2, 510000, tzinfo=UTC),
    text="hellthread hellthread hellthread\n\ndid it work?",
    author="skeet.computer",
    parent_id="at://did:plc:mf5dzzqkp7fnmby6blfeljwj/app.bsky.feed.post/3jujdjxptu42j",
    thread_id="at://did:plc:nx3kofpg4oxmkonqr6su5lw4/app.bsky.feed.post/3juhgsu4tpi2e",
)
PASSWORD = "app-pass-123"
# the documented XRPC error body (https://atproto.com/specs/xrpc#error-responses); the PDS
# answers a second createRecord at an existing key with exactly this 500
# (https://github.com/bluesky-social/atproto/issues/3718)
INTERNAL = {"error": "InternalServerError", "message": "Internal Server Error"}
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_BSKY_HANDLE", "shinyakato.dev")
    monkeypatch.setenv("ACME_BSKY_APP_PASSWORD", PASSWORD)


def _replier(base_url: str = "https://pds.example") -> BlueskyReplier:
    return BlueskyReplier(
        BlueskyReplyOptions(handle_env="ACME_BSKY_HANDLE", password_env="ACME_BSKY_APP_PASSWORD"),
        feed_options=BlueskyOptions(query="acme", token_env="ACME_BSKY_READ_TOKEN"),
        base_url=base_url,
    )


def _created(request: Request) -> Reply:
    """A PDS's answer: the post at the key it was asked to write."""
    rkey = request.json()["rkey"]
    uri = f"at://{BRAND_DID}/app.bsky.feed.post/{rkey}"
    return Reply.json({"uri": uri, "cid": CREATED["cid"], "validationStatus": "valid"})


def _serve(server: LocalServer, posts: dict[str, Any] = FOCUS) -> None:
    server.route("/xrpc/com.atproto.server.createSession", Reply.json(SESSION))
    server.route("/xrpc/app.bsky.feed.getPosts", Reply.json(posts))
    server.route("/xrpc/com.atproto.repo.createRecord", _created)


def _paths(server: LocalServer) -> list[str]:
    return [request.path.removeprefix("/xrpc/") for request in server.requests]


def test_post_sends_strong_refs_at_the_attempts_key_to_a_real_server() -> None:
    with local_server() as server, httpx.Client() as client:
        _serve(server)
        posted = _replier(server.url).post(client, TARGET, "Sorry! We're on it.", "reply-7-1")

    assert _paths(server) == [
        "com.atproto.server.createSession",
        "app.bsky.feed.getPosts",
        "com.atproto.repo.createRecord",
    ]
    login, lookup, create = server.requests
    assert login.json() == {"identifier": "shinyakato.dev", "password": PASSWORD}
    assert lookup.query == {"uris": [TARGET.external_id]}
    assert lookup.headers["authorization"] == "Bearer test-access-jwt"
    assert create.headers["authorization"] == "Bearer test-access-jwt"
    sent = create.json()
    rkey = record_key("reply-7-1", TARGET)
    record = sent.pop("record")
    assert sent == {"repo": "shinyakato.dev", "collection": "app.bsky.feed.post", "rkey": rkey}
    focus = FOCUS["posts"][0]
    assert record["reply"] == {
        # the thread's root, from the mention's own record; the mention as parent
        "root": {"uri": TARGET.thread_id, "cid": focus["record"]["reply"]["root"]["cid"]},
        "parent": {"uri": TARGET.external_id, "cid": focus["cid"]},
    }
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == "Sorry! We're on it."
    assert "facets" not in record  # no link typed: plain text, nothing tagged
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["createdAt"])

    assert posted.external_id == f"at://{BRAND_DID}/app.bsky.feed.post/{rkey}"
    assert posted.created_at == parse_time(record["createdAt"])
    assert posted.url == f"https://bsky.app/profile/shinyakato.dev/post/{rkey}"
    assert posted.author == "shinyakato.dev" and posted.author_id == BRAND_DID


def test_the_recorded_create_answer_gives_the_posts_uri() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("createSession"):
            return httpx.Response(200, json=SESSION)
        if request.url.path.endswith("getPosts"):
            return httpx.Response(200, json=FOCUS)
        return httpx.Response(200, json=CREATED)

    with mock_client(answer) as client:
        posted = _replier().post(client, TARGET, "same!", "k")
    assert posted.external_id == CREATED["uri"]
    assert posted.author_id == BRAND_DID


def test_the_record_key_is_a_tid_of_the_mentions_time_and_differs_per_attempt() -> None:
    first, again, other = (record_key(k, TARGET) for k in ("reply-7-1", "reply-7-1", "reply-7-2"))
    assert first == again != other
    assert TID.match(first) and TID.match(other)
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = 0
    for char in first:
        value = value * 32 + alphabet.index(char)
    micros = value >> 10
    assert micros // 1_000_000 == int(TARGET.created_at.timestamp())


def test_a_typed_link_gets_a_facet_pointing_where_its_text_says() -> None:
    text = "Voilà: https://status.acme.example/incidents/42. Thanks @bob #acme"
    (facet,) = link_facets(text)
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end].decode() == "https://status.acme.example/incidents/42"
    assert facet["features"] == [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://status.acme.example/incidents/42"}
    ]


def test_a_resend_of_the_same_attempt_answers_with_the_post_it_made() -> None:
    # The recorded getRecord is shinyakato.dev's reply to its own post 3juqjg3lgot2z: answer
    # that post, whose view is the recorded one pointed at it.
    target_uri = EARLIER["value"]["reply"]["parent"]["uri"]
    target = ReplyTarget("bluesky", "acme-bluesky", target_uri, TARGET.created_at, "card?")
    view = dict(FOCUS["posts"][0], uri=target_uri, cid=EARLIER["value"]["reply"]["parent"]["cid"])
    # today's 500, an explicit refusal (as bluesky-social/atproto#4728 proposes), a lost answer
    exists = Reply.json({"error": "RecordAlreadyExists", "message": "Record already exists"}, 409)
    for failure in (Reply.json(INTERNAL, 500), exists, Reply(200, reset_after=True)):
        with local_server() as server, httpx.Client() as client:
            _serve(server, {"posts": [view]})
            server.route("/xrpc/com.atproto.repo.createRecord", failure)
            server.route("/xrpc/com.atproto.repo.getRecord", Reply.json(EARLIER))
            posted = _replier(server.url).post(client, target, "@yui.bsky.social /card", "k-1")
        lookup = server.requests[-1]
        assert lookup.path == "/xrpc/com.atproto.repo.getRecord"
        assert lookup.query == {
            "repo": ["shinyakato.dev"],
            "collection": ["app.bsky.feed.post"],
            "rkey": [record_key("k-1", target)],
        }
        assert posted.external_id == EARLIER["uri"]
        assert posted.created_at == datetime(2023, 5, 2, 11, 7, 53, 210000, tzinfo=UTC)


def test_a_lost_answer_with_nothing_at_the_key_stays_unknown() -> None:
    not_found = {"error": "RecordNotFound", "message": "Could not locate record"}
    with local_server() as server, httpx.Client() as client:
        _serve(server)
        server.route("/xrpc/com.atproto.repo.createRecord", Reply.json(INTERNAL, 502))
        server.route("/xrpc/com.atproto.repo.getRecord", Reply.json(not_found, 400))
        with pytest.raises(ReplyUnknown):
            _replier(server.url).post(client, TARGET, "x", "k")


def test_the_platforms_words_explain_an_invalid_reply() -> None:
    # the PDS's validation error for an over-long post (app.bsky.feed.post maxGraphemes)
    invalid = {
        "error": "InvalidRequest",
        "message": "Invalid app.bsky.feed.post record: Record/text must not be longer than"
        " 300 graphemes",
    }
    with local_server() as server, httpx.Client() as client:
        _serve(server)
        server.route("/xrpc/com.atproto.repo.createRecord", Reply.json(invalid, 400))
        server.route(
            "/xrpc/com.atproto.repo.getRecord", Reply.json({"error": "RecordNotFound"}, 400)
        )
        with pytest.raises(ReplyRefused) as refused:
            _replier(server.url).post(client, TARGET, "x", "k")
    assert refused.value.kind == "invalid"
    assert "must not be longer than 300 graphemes" in refused.value.message
    assert "nothing was posted" in refused.value.message


def test_a_thread_closed_to_the_brand_or_a_deleted_post_posts_nothing() -> None:
    gated = GATED["posts"][0]
    target = ReplyTarget("bluesky", "acme-bluesky", gated["uri"], TARGET.created_at, "x")
    for posts, kind, mention in ((GATED, "invalid", target), ({"posts": []}, "gone", TARGET)):
        with local_server() as server, httpx.Client() as client:
            _serve(server, posts)
            with pytest.raises(ReplyRefused) as refused:
                _replier(server.url).post(client, mention, "hello", "k")
        assert refused.value.kind == kind
        assert "com.atproto.repo.createRecord" not in _paths(server)


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_that_certainly_posted_nothing_are_refusals(status: int, kind: str) -> None:
    handler = Recording(
        lambda request: (
            httpx.Response(200, json=SESSION)
            if request.url.path.endswith("createSession")
            else httpx.Response(200, json=FOCUS)
            if request.url.path.endswith("getPosts")
            else httpx.Response(
                status, headers={"Retry-After": "30"}, json={"error": "X", "message": "no"}
            )
        )
    )
    with mock_client(handler) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, "x", "k")
    assert refused.value.kind == kind
    for secret in (PASSWORD, "test-access-jwt"):
        assert secret not in refused.value.message
    if status in (401, 403):  # the session was renewed once, then the refusal stands
        logins = [r for r in handler.requests if r.url.path.endswith("createSession")]
        assert len(logins) == 2
    if status == 429:
        assert refused.value.retry_after == 30


def test_a_429_without_retry_after_waits_until_ratelimit_reset() -> None:
    reset = int((datetime.now(UTC) + timedelta(seconds=120)).timestamp())

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("createSession"):
            return httpx.Response(200, json=SESSION)
        if request.url.path.endswith("getPosts"):
            return httpx.Response(200, json=FOCUS)
        headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)}
        body = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
        return httpx.Response(429, headers=headers, json=body)

    with mock_client(answer) as client, pytest.raises(ReplyRefused) as refused:
        _replier().post(client, TARGET, "x", "k")
    assert refused.value.kind == "rate_limited"
    assert refused.value.retry_after is not None and 100 < refused.value.retry_after <= 120


def test_an_expired_session_is_renewed_once_and_the_reply_posted() -> None:
    expired = Reply.json({"error": "ExpiredToken", "message": "Token has expired"}, 400)
    answers = iter([expired])
    with local_server() as server, httpx.Client() as client:
        _serve(server)
        server.route(
            "/xrpc/com.atproto.repo.createRecord", lambda r: next(answers, None) or _created(r)
        )
        posted = _replier(server.url).post(client, TARGET, "x", "k")
    assert _paths(server).count("com.atproto.server.createSession") == 2
    assert posted.external_id.startswith(f"at://{BRAND_DID}/")


def test_a_server_error_or_a_reset_after_sending_is_unknown_and_no_connection_a_refusal() -> None:
    with local_server() as server, httpx.Client() as client:
        _serve(server)
        server.route("/xrpc/com.atproto.repo.createRecord", Reply(200, reset_after=True))
        server.route("/xrpc/com.atproto.repo.getRecord", Reply.json(INTERNAL, 500))
        with pytest.raises(ReplyUnknown):
            _replier(server.url).post(client, TARGET, "x", "k")
        closed = server.url
    with httpx.Client() as client, pytest.raises(ReplyRefused) as refused:
        _replier(closed).post(client, TARGET, "x", "k")  # the server is gone: port closed
    assert refused.value.kind == "unreachable"


def test_length_is_counted_in_graphemes_and_bytes_before_posting() -> None:
    replier = _replier()
    assert replier.check("a" * 300) is None
    problem = replier.check("a" * 301)
    assert problem is not None and "300 graphemes" in problem and "by 1" in problem
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, 18 bytes
    assert replier.length(family * 3) == 3
    assert replier.length("e\u0301") == 1
    assert replier.check(family * 160) is None  # 160 graphemes, 2880 bytes
    flag = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # 28 bytes
    too_heavy = replier.check(flag * 200)
    assert too_heavy is not None and "3000 bytes" in too_heavy
    assert replier.check("  \n") == "The reply is empty."


def test_find_own_reads_the_replies_below_the_mention(monkeypatch: pytest.MonkeyPatch) -> None:
    # xowap.bsky.social plays the brand: its recorded reply 3juml4dkt6z2o "Is it broke yet?"
    monkeypatch.setenv("ACME_BSKY_HANDLE", "xowap.bsky.social")
    found_reply = next(
        r["post"] for r in THREAD["thread"]["replies"] if r["post"]["uri"].endswith("3juml4dkt6z2o")
    )
    created = parse_time(found_reply["record"]["createdAt"])
    handler = Recording(
        lambda request: httpx.Response(
            200, json=SESSION if request.url.path.endswith("createSession") else THREAD
        )
    )
    replier = _replier()
    with mock_client(handler) as client:
        found = replier.find_own(client, TARGET, "Is it broke yet?", created)
        other = replier.find_own(client, TARGET, "other text", created - timedelta(days=1))
        later = replier.find_own(client, TARGET, "Is it broke yet?", created + timedelta(seconds=1))
    assert found is not None and found.external_id == found_reply["uri"]
    assert found.created_at == created
    assert other is None and later is None
    thread_request = handler.requests[-1]
    assert thread_request.url.path == "/xrpc/app.bsky.feed.getPostThread"
    assert thread_request.url.params["uri"] == TARGET.external_id


def test_missing_names_the_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier()
    assert replier.missing() is None
    monkeypatch.delenv("ACME_BSKY_APP_PASSWORD")
    assert replier.missing() == "ACME_BSKY_APP_PASSWORD is not set"
    with pytest.raises(ValueError):
        BlueskyReplyOptions(handle_env="H")  # neither an app password nor a token


def test_the_posted_reply_is_the_reply_the_feed_reads_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Round trip: what the writer posted, served back in a search answer, is the brand
    reply the connector produces: same id, same time, answering the mention."""
    monkeypatch.setenv("ACME_BSKY_READ_TOKEN", "read-token")
    with local_server() as server, httpx.Client() as client:
        _serve(server)
        posted = _replier(server.url).post(client, TARGET, "Fixed, see https://acme.example", "k")
        record = server.requests[-1].json()["record"]
        view = dict(
            SEARCH["posts"][0],
            uri=posted.external_id,
            author={"did": BRAND_DID, "handle": "shinyakato.dev"},
            record=record,
            indexedAt=record["createdAt"],
        )
        server.route("/xrpc/app.bsky.feed.searchPosts", Reply.json({"posts": [view]}))
        connector = BlueskyConnector(
            BlueskyOptions(query="acme", token_env="ACME_BSKY_READ_TOKEN"),
            feed_name="acme-bluesky",
            identities=(BrandIdentity("bluesky", handle="shinyakato.dev"),),
            base_url=server.url,
        )
        now = posted.created_at + timedelta(minutes=1)
        result = connector.poll(client, FeedCursor(), now)
    (reply,) = result.brand_replies
    assert reply.external_id == posted.external_id
    assert reply.in_reply_to == TARGET.external_id
    assert reply.created_at == posted.created_at
    assert reply.text == "Fixed, see https://acme.example"
