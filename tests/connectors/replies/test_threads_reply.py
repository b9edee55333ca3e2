"""The Threads writer: container, status, publish; a lost step never posts twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.threads import ThreadsReplier, ThreadsReplyOptions, threads_length
from connectors.sources.threads import ThreadsOptions
from tests.connectors.conformance import fixture_bytes
from tests.connectors.test_threads import MINE, NOW, SEARCH, _api, _connector
from tests.support.http_server import LocalServer, Reply
from tests.support.mock_http import mock_client, poll_with

BASE = "https://graph.threads.net/v1.0"
WRITE_TOKEN = "THAAwritetokenforacme0987"


def load(name: str) -> Any:
    return json.loads(fixture_bytes("threads", name))


CONTAINER = load("reply_container_create_answer_from_docs.json")
FINISHED = load("container_status_finished_from_docs.json")
FAILED = load("container_status_error_from_docs.json")
PUBLISHED = load("reply_publish_answer_from_docs.json")
# the brand's reply to jamie.runs as GET /{media-id} returns it (user_replies_acme_...)
REPLY_NODE = next(r for r in MINE["data"] if r["id"] == PUBLISHED["id"])
JAMIE = next(p for p in SEARCH["data"] if p["username"] == "jamie.runs")
TEXT = REPLY_NODE["text"]
TARGET = ReplyTarget(
    platform="threads",
    feed="acme-threads",
    external_id=JAMIE["id"],
    created_at=datetime(2026, 11, 23, 9, 12, 30, tzinfo=UTC),
    text=JAMIE["text"],
    author="jamie.runs",
)


def replier(monkeypatch: pytest.MonkeyPatch, base: str = BASE) -> ThreadsReplier:
    monkeypatch.setenv("ACME_THREADS_WRITE", WRITE_TOKEN)
    writer = ThreadsReplier(
        ThreadsReplyOptions(token_env="ACME_THREADS_WRITE"),
        feed_options=ThreadsOptions(query="acme"),
        base_url=base,
    )
    writer.status_pause = 0.0
    return writer


class Threads:
    """graph.threads.net for one reply: each path answers with the given (status, body)."""

    def __init__(self, **answers: Any) -> None:
        self.answers: dict[str, Any] = {
            "threads": (200, CONTAINER),
            "status": (200, FINISHED),
            "threads_publish": (200, PUBLISHED),
            "read": (200, REPLY_NODE),
            **answers,
        }
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        last = request.url.path.rsplit("/", 1)[1]
        if request.method == "POST":
            answer = self.answers[last]
        elif request.url.params.get("fields") == "status,error_message":
            answer = self.answers["status"]
        else:
            answer = self.answers["read"]
        if callable(answer):
            result: httpx.Response = answer(request)
            return result
        status, body = answer
        return httpx.Response(status, json=body)


def test_create_wait_publish_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Threads()
    with mock_client(api) as client:
        posted = replier(monkeypatch).post(client, TARGET, TEXT, "k")
    create, status, publish, read = api.requests
    assert (create.method, str(create.url)) == ("POST", f"{BASE}/me/threads")
    assert parse_qs(create.content.decode()) == {
        "media_type": ["TEXT"],
        "text": [TEXT],
        "reply_to_id": [JAMIE["id"]],
        "access_token": [WRITE_TOKEN],
    }
    assert status.url.path == f"/v1.0/{CONTAINER['id']}"
    assert (publish.method, publish.url.path) == ("POST", "/v1.0/me/threads_publish")
    assert parse_qs(publish.content.decode()) == {
        "creation_id": [CONTAINER["id"]],
        "access_token": [WRITE_TOKEN],
    }
    assert read.url.path == f"/v1.0/{PUBLISHED['id']}"
    assert posted.external_id == "18000000000000101"
    assert posted.created_at == datetime(2026, 11, 23, 9, 40, 12, tzinfo=UTC)
    assert posted.url == "https://www.threads.net/@acme/post/000101"


def test_the_posted_id_is_the_one_the_poll_gives_the_brands_reply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THREADS_ACCESS_TOKEN", "THAAreadtoken")  # the feed's read token
    result = poll_with(_connector(query="acme", own_threads=False), _api(), NOW)
    with mock_client(Threads()) as client:
        posted = replier(monkeypatch).post(client, TARGET, TEXT, "k")
    [reply] = [r for r in result.brand_replies if r.in_reply_to == TARGET.external_id]
    assert (reply.external_id, reply.created_at) == (posted.external_id, posted.created_at)


def test_a_lost_create_answer_publishes_nothing_and_is_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash or a lost answer before the publish call: the container (if any) is never
    visible, so trying again cannot post twice."""

    def lost(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    broken: list[dict[str, Any]] = [{"threads": lost}, {"threads": (502, {})}, {"status": lost}]
    for answers in broken:
        api = Threads(**answers)
        with mock_client(api) as client, pytest.raises(ReplyRefused) as refused:
            replier(monkeypatch).post(client, TARGET, TEXT, "k")
        assert refused.value.kind == "unreachable"
        assert "Nothing was published" in refused.value.message
        assert not any(r.url.path.endswith("threads_publish") for r in api.requests)


def test_a_failed_or_slow_container_is_not_published(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Threads(status=(200, FAILED))
    with mock_client(api) as client, pytest.raises(ReplyRefused) as refused:
        replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert refused.value.kind == "invalid" and "UNKNOWN" in refused.value.message
    slow = Threads(status=(200, {"status": "IN_PROGRESS", "id": CONTAINER["id"]}))
    with mock_client(slow) as client, pytest.raises(ReplyRefused) as waited:
        replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert waited.value.kind == "unreachable"
    assert len([r for r in slow.requests if r.method == "GET"]) == 5
    assert not any(r.url.path.endswith("threads_publish") for r in slow.requests)


def test_a_lost_publish_answer_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    for publish in (reset, (500, {"error": {"message": "unknown", "code": 2}})):
        with mock_client(Threads(threads_publish=publish)) as client, pytest.raises(ReplyUnknown):
            replier(monkeypatch).post(client, TARGET, TEXT, "k")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("error_4_app_request_limit_from_docs.json", "rate_limited"),
        ("error_190_463_expired_from_docs.json", "auth"),
    ],
)
def test_metas_error_code_decides(monkeypatch: pytest.MonkeyPatch, name: str, kind: str) -> None:
    body = load(name)
    with (
        mock_client(Threads(threads=(400, body))) as client,
        pytest.raises(ReplyRefused) as refused,
    ):
        replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert refused.value.kind == kind
    assert WRITE_TOKEN not in refused.value.message
    # the same on the publish step: a 4xx there published nothing either
    with (
        mock_client(Threads(threads_publish=(400, body))) as client,
        pytest.raises(ReplyRefused) as at_publish,
    ):
        replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert at_publish.value.kind == kind


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_without_an_envelope(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    with (
        mock_client(Threads(threads=(status, {}))) as client,
        pytest.raises(ReplyRefused) as refused,
    ):
        replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert refused.value.kind == kind


def test_a_refused_connection_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with mock_client(refused) as client, pytest.raises(ReplyRefused) as no_connection:
        replier(monkeypatch).post(client, TARGET, TEXT, "k")
    assert no_connection.value.kind == "unreachable"


def test_find_own_reads_the_brands_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=MINE)

    writer = replier(monkeypatch)
    since = datetime(2026, 11, 23, 9, 40, tzinfo=UTC)
    with mock_client(handler) as client:
        found = writer.find_own(client, TARGET, TEXT, since)
        assert found is not None and found.external_id == "18000000000000101"
        assert writer.find_own(client, TARGET, "other", since) is None
        assert writer.find_own(client, TARGET, TEXT, datetime(2026, 11, 23, 10, tzinfo=UTC)) is None
    assert seen[0].url.path == "/v1.0/me/replies"
    assert int(seen[0].url.params["since"]) < since.timestamp()
    with (
        mock_client(
            lambda r: httpx.Response(400, json=load("error_4_app_request_limit_from_docs.json"))
        ) as client,
        pytest.raises(ReplyUnknown),
    ):
        writer.find_own(client, TARGET, TEXT, since)


def test_length_counts_emoji_bytes_and_links_are_at_most_five(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer = replier(monkeypatch)
    assert threads_length("Sorry 🙏") == 10  # the emoji is 4 bytes
    assert threads_length("日本") == 2
    assert writer.check("a" * 500) is None
    assert writer.check("a" * 497 + "🙏") is not None  # 501 as Threads counts it
    six = " ".join(f"https://acme.com/{i}" for i in range(6))
    problem = writer.check(six)
    assert problem is not None and "5 links" in problem
    assert writer.check(" ".join(["https://acme.com/1"] * 6)) is None  # one link, six times


def test_a_reply_through_a_real_local_server(
    monkeypatch: pytest.MonkeyPatch, server: LocalServer
) -> None:
    server.route("/v1.0/me/threads", Reply.json(CONTAINER))
    server.route(f"/v1.0/{CONTAINER['id']}", Reply.json(FINISHED))
    server.route("/v1.0/me/threads_publish", Reply.json(PUBLISHED))
    server.route(f"/v1.0/{PUBLISHED['id']}", Reply.json(REPLY_NODE))
    with httpx.Client() as client:
        posted = replier(monkeypatch, base=f"{server.url}/v1.0").post(client, TARGET, TEXT, "k")
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/v1.0/me/threads"),
        ("GET", f"/v1.0/{CONTAINER['id']}"),
        ("POST", "/v1.0/me/threads_publish"),
        ("GET", f"/v1.0/{PUBLISHED['id']}"),
    ]
    assert parse_qs(server.requests[0].body.decode())["reply_to_id"] == [JAMIE["id"]]
    assert posted.external_id == "18000000000000101"
