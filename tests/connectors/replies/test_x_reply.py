"""The X writer: the exact request, the snowflake's time, X's 403/429, the weighted length."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import BrandIdentity
from connectors.replies._weighted import weighted_length
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.x import XReplier, XReplyOptions
from connectors.sources.x import XConnector, XOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import LocalServer, Reply
from tests.support.mock_http import mock_client, poll_with

BASE = "https://api.x.com"
WRITE_TOKEN = "user-ctx-token-abcdef123456"


def load(name: str) -> Any:
    return json.loads(fixture_bytes("x", name))


CREATED = load("create_post_from_docs.json")  # POST /2/tweets, the docs' example answer
ME = load("users_me_from_docs.json")
POST_ID = CREATED["data"]["id"]
TEXT = CREATED["data"]["text"]
BRAND_ID = ME["data"]["id"]
POSTED_AT = datetime(2021, 1, 6, 18, 40, 40, 344000, tzinfo=UTC)  # the id's snowflake time
# the mention answered: a stored row (an older post id of the docs' examples)
TARGET = ReplyTarget(
    platform="x",
    feed="acme-x",
    external_id="1212092628029698048",
    created_at=datetime(2019, 12, 31, 19, 26, 16, tzinfo=UTC),
    text="@TwitterDev how do I use the timelines?",
    author="someone",
)


def timeline(*posts: dict[str, Any]) -> dict[str, Any]:
    """GET /2/users/:id/tweets as the brand's reply would show in it: the created post with
    the fields the read connector asks (derived from the docs' answer)."""
    return {
        "data": list(posts),
        "includes": {"users": [ME["data"]]},
        "meta": {"result_count": len(posts)},
    }


def as_read(**more: Any) -> dict[str, Any]:
    return {
        **CREATED["data"],
        "author_id": BRAND_ID,
        "created_at": "2021-01-06T18:40:40.000Z",
        "conversation_id": TARGET.external_id,
        "referenced_tweets": [{"type": "replied_to", "id": TARGET.external_id}],
        **more,
    }


def replier(monkeypatch: pytest.MonkeyPatch, base: str = BASE, **options: Any) -> XReplier:
    monkeypatch.setenv("ACME_X_WRITE", WRITE_TOKEN)
    return XReplier(
        XReplyOptions(token_env="ACME_X_WRITE", **options),
        feed_options=XOptions(user_id=BRAND_ID),
        base_url=base,
    )


def post(monkeypatch: pytest.MonkeyPatch, status: int, body: Any, **headers: str) -> Any:
    handler = lambda request: httpx.Response(status, json=body, headers=headers)  # noqa: E731
    with mock_client(handler) as client:
        return replier(monkeypatch).post(client, TARGET, "hi", "k")


def test_post_sends_the_reply_and_takes_the_time_from_the_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=CREATED)

    with mock_client(handler) as client:
        posted = replier(monkeypatch).post(client, TARGET, TEXT, "monitor-reply-3")
    (request,) = seen  # no second request for the time
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/2/tweets")
    assert request.headers["Authorization"] == f"Bearer {WRITE_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "text": TEXT,
        "reply": {"in_reply_to_tweet_id": "1212092628029698048"},
    }
    assert posted.external_id == POST_ID
    assert posted.created_at == POSTED_AT
    assert posted.url == f"https://x.com/i/web/status/{POST_ID}"
    assert posted.text == TEXT


def test_the_posted_id_is_the_one_the_poll_gives_the_brands_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Round trip: the brand timeline read by a poll holds the reply under the same id, at
    the same second (created_at is the snowflake time cut to the second)."""
    monkeypatch.setenv("X_BEARER_TOKEN", "read-bearer")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"/2/users/{BRAND_ID}/tweets"):
            return httpx.Response(200, json=timeline(as_read()))
        return httpx.Response(200, json={"meta": {"result_count": 0}})

    feed = XConnector(
        XOptions(user_id=BRAND_ID),
        feed_name="acme-x",
        identities=[BrandIdentity("x", handle="TwitterDev", account_id=BRAND_ID)],
    )
    result = poll_with(feed, handler, datetime(2021, 1, 7, tzinfo=UTC))
    with mock_client(lambda r: httpx.Response(201, json=CREATED)) as client:
        posted = replier(monkeypatch).post(client, TARGET, TEXT, "k")
    [reply] = result.brand_replies
    assert (reply.external_id, reply.in_reply_to) == (posted.external_id, TARGET.external_id)
    assert reply.created_at == posted.created_at.replace(microsecond=0)


def test_a_duplicate_text_is_refused_as_the_text_not_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ReplyRefused) as refused:
        post(monkeypatch, 403, load("error_403_duplicate_content_from_docs.json"))
    assert refused.value.kind == "invalid"
    assert "duplicate content" in refused.value.message


def test_auth_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReplyRefused) as expired:
        post(monkeypatch, 401, load("error_401_unauthorized_from_docs.json"))
    assert expired.value.kind == "auth" and "ACME_X_WRITE" in expired.value.message
    with pytest.raises(ReplyRefused) as forbidden:
        post(monkeypatch, 403, load("error_403_client_not_enrolled_from_docs.json"))
    assert forbidden.value.kind == "auth"
    for refusal in (expired.value, forbidden.value):
        assert WRITE_TOKEN not in refusal.message


def test_a_429_waits_for_the_window_that_is_used_up(monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime.now(UTC).timestamp()
    headers = {
        "x-rate-limit-remaining": "150",
        "x-rate-limit-reset": str(int(now + 60)),
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(int(now + 1800)),
    }
    with pytest.raises(ReplyRefused) as limited:
        post(monkeypatch, 429, load("error_429_too_many_requests_from_docs.json"), **headers)
    assert limited.value.kind == "rate_limited"
    assert limited.value.retry_after is not None and 1700 < limited.value.retry_after <= 1800
    with pytest.raises(ReplyRefused) as retry_after:
        post(monkeypatch, 429, {}, **{"Retry-After": "30"})
    assert retry_after.value.retry_after == 30
    with pytest.raises(ReplyRefused) as capped:
        post(monkeypatch, 429, load("error_429_usage_capped_from_docs.json"))
    assert capped.value.retry_after == 3600


def test_other_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReplyRefused) as invalid:
        post(monkeypatch, 400, {"errors": [{"message": "Your Tweet text is too long."}]})
    assert invalid.value.kind == "invalid" and "too long" in invalid.value.message
    with pytest.raises(ReplyRefused) as gone:
        post(monkeypatch, 404, {})
    assert gone.value.kind == "gone"
    with pytest.raises(ReplyUnknown):
        post(monkeypatch, 503, {"title": "Service Unavailable"})
    with pytest.raises(ReplyUnknown):  # a 2xx without the post's id
        post(monkeypatch, 201, {"errors": [{"title": "odd"}]})

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with mock_client(reset) as client, pytest.raises(ReplyUnknown):
        replier(monkeypatch).post(client, TARGET, "hi", "k")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with mock_client(refused) as client, pytest.raises(ReplyRefused) as no_connection:
        replier(monkeypatch).post(client, TARGET, "hi", "k")
    assert no_connection.value.kind == "unreachable"


def test_find_own_reads_the_brand_timeline_since_the_mention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []
    # as X returns a reply's text: "@name " before it, & escaped, the link shortened
    shown = as_read(text="@someone Thanks &amp; sorry: see https://t.co/abc123")

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/2/users/me":
            return httpx.Response(200, json=ME)
        return httpx.Response(200, json=timeline(shown))

    typed = "Thanks & sorry: see https://acme.com/help"
    writer = replier(monkeypatch)
    with mock_client(handler) as client:
        found = writer.find_own(client, TARGET, typed, datetime(2021, 1, 6, 18, 40, tzinfo=UTC))
        assert found is not None and found.external_id == POST_ID
        assert writer.find_own(client, TARGET, "other", datetime(2021, 1, 6, tzinfo=UTC)) is None
        assert writer.find_own(client, TARGET, typed, datetime(2021, 1, 7, tzinfo=UTC)) is None
    timeline_request = seen[1]
    assert timeline_request.url.path == f"/2/users/{BRAND_ID}/tweets"
    assert timeline_request.url.params["since_id"] == TARGET.external_id
    with (
        mock_client(lambda r: httpx.Response(429, json={})) as client,
        pytest.raises(ReplyUnknown),
    ):  # could not look: never "refused"
        writer.find_own(client, TARGET, typed, datetime(2021, 1, 6, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("hello", 5),
        ("こんにちは", 10),  # CJK weighs 2
        ("Привет", 6),  # Cyrillic 1
        ("see https://acme.com/a/very/long/path/that/goes/on/and/on.", 4 + 23 + 1),
        ("acme.com", 23),  # a bare domain: at least 23
        ("👍🏽", 2),  # an emoji with a skin tone
        ("👨‍👩‍👧‍👦", 2),  # a ZWJ family
        ("🇫🇷", 2),
        ("1️⃣", 2),
        ("❤️", 2),
        ("e\u0301", 1),  # NFC: é
    ],
)
def test_weighted_length_as_x_counts(text: str, weight: int) -> None:
    assert weighted_length(text) == weight


def test_the_weighted_limit_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = replier(monkeypatch)
    assert writer.check("a" * 280) is None
    assert writer.check("日" * 140) is None
    problem = writer.check("日" * 141)
    assert (
        problem == "x takes at most 280 weighted characters; this reply has 282. Shorten it by 2."
    )
    assert replier(monkeypatch, max_characters=25000).check("a" * 281) is None


def test_a_reply_through_a_real_local_server(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer
) -> None:
    server.route("/2/tweets", Reply.json(CREATED, status=201))
    with httpx.Client() as client:
        posted = replier(monkeypatch, base=server.url).post(client, TARGET, TEXT, "k")
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/2/tweets")
    assert request.headers["authorization"] == f"Bearer {WRITE_TOKEN}"
    assert request.json()["reply"] == {"in_reply_to_tweet_id": TARGET.external_id}
    assert (posted.external_id, posted.created_at) == (POST_ID, POSTED_AT)
