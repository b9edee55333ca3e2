"""The App Store writer: customerReviewResponses, each failure, RSS feeds, the round trip."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from connectors import BrandIdentity
from connectors.replies.appstore import AppStoreReplier, AppStoreReplyOptions
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.sources.appstore import AppStoreConnector, AppStoreOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import Reply, Request, local_server
from tests.support.keys import p8_key
from tests.support.mock_http import answering, mock_client, poll_with

# the 201 answer, built from Apple's docs (SOURCES.md there)
CREATED = fixture_bytes("appstore", "customerReviewResponses_create_201_from_docs.json")
PAGE1 = fixture_bytes("appstore", "customerReviews_include_response_page1_from_docs.json")
ERROR_401 = fixture_bytes("appstore", "error_401_NOT_AUTHORIZED_from_docs.json")
REVIEW_ID = "00000041-7c2e-4a01-9f3b-1a2b00000004"
RESPONSE_ID = "00000041-7c2e-4a01-9f3b-1a2b00000007"
RESPONDED_AT = datetime(2026, 11, 23, 12, 15, 9, tzinfo=UTC)  # 04:15:09-08:00
TEXT = "Thank you! Widgets are coming in 5.3."
ISSUER = "57246542-96fe-1a63-e053-0824d011072a"
TARGET = ReplyTarget(
    platform="appstore",
    feed="ios",
    external_id=REVIEW_ID,
    created_at=datetime(2026, 11, 19, 15, 0, tzinfo=UTC),
    text="Does exactly what it says.",
    url="https://apps.apple.com/app/id682658836?see-all=reviews",
    author="happy camper",
    title="Love it",
)


def _replier(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str = "connect",
    base_url: str = "https://itunes.apple.com",
) -> tuple[AppStoreReplier, ec.EllipticCurvePublicKey]:
    path, public = p8_key(tmp_path)
    monkeypatch.setenv("ASC_REPLY_KEY_ID", "REPLYKEY99")
    monkeypatch.setenv("ASC_REPLY_ISSUER_ID", ISSUER)
    monkeypatch.setenv("ASC_REPLY_KEY_PATH", str(path))
    replier = AppStoreReplier(
        AppStoreReplyOptions(
            key_id_env="ASC_REPLY_KEY_ID",
            issuer_id_env="ASC_REPLY_ISSUER_ID",
            private_key_path_env="ASC_REPLY_KEY_PATH",
        ),
        feed_options=AppStoreOptions.model_validate({"mode": mode, "app_id": "682658836"}),
        base_url=base_url,
    )
    return replier, public


def _claims(request: httpx.Request | Request, public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    auth = request.headers.get("authorization") or request.headers.get("Authorization") or ""
    token = auth.removeprefix("Bearer ")
    assert jwt.get_unverified_header(token)["kid"] == "REPLYKEY99"
    claims: dict[str, str] = jwt.decode(
        token, public, algorithms=["ES256"], audience="appstoreconnect-v1"
    )
    return claims


def test_post_creates_the_response_on_the_connect_api_and_returns_apples_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, content=CREATED)

    replier, public = _replier(tmp_path, monkeypatch)  # the feed's default (RSS) root
    posted = replier.post(mock_client(handler), TARGET, TEXT, "monitor-reply-9-1")
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.appstoreconnect.apple.com/v1/customerReviewResponses"
    assert json.loads(request.content) == {
        "data": {
            "type": "customerReviewResponses",
            "attributes": {"responseBody": TEXT},
            "relationships": {"review": {"data": {"type": "customerReviews", "id": REVIEW_ID}}},
        }
    }
    assert _claims(request, public)["iss"] == ISSUER
    assert posted.external_id == RESPONSE_ID
    assert posted.created_at == RESPONDED_AT
    assert posted.text == TEXT and posted.url == TARGET.url


def test_an_rss_feed_cannot_reply_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replier, _public = _replier(tmp_path, monkeypatch, mode="rss")
    problem = replier.missing()
    assert problem is not None and 'mode = "connect"' in problem
    assert "not App Store Connect ids" in problem
    rss_target = ReplyTarget(
        platform="appstore",
        feed="ios",
        external_id="6262540813",
        created_at=TARGET.created_at,
        text="x",
    )
    with pytest.raises(ReplyRefused) as refused:
        replier.post(answering(201, CREATED), rss_target, TEXT, "k")
    assert refused.value.kind == "invalid" and "nothing was posted" in refused.value.message
    connect, _ = _replier(tmp_path, monkeypatch)
    assert connect.missing() is None


def test_a_refusal_quotes_apples_error_detail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apple's ErrorResponse (https://developer.apple.com/documentation/appstoreconnectapi/errorresponse)
    answer = {
        "errors": [
            {
                "status": "409",
                "code": "ENTITY_ERROR.ATTRIBUTE.INVALID",
                "title": "An attribute value is invalid.",
                "detail": "The response body is too long.",
            }
        ]
    }
    replier, _public = _replier(tmp_path, monkeypatch)
    with pytest.raises(ReplyRefused) as refused:
        replier.post(answering(409, json.dumps(answer).encode()), TARGET, TEXT, "k")
    assert refused.value.kind == "invalid"
    assert "The response body is too long." in refused.value.message


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, ERROR_401, "auth"),
        (403, b"{}", "auth"),
        (404, b"{}", "gone"),
        (429, b"{}", "rate_limited"),
    ],
)
def test_statuses_that_certainly_posted_nothing_are_refusals_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, body: bytes, kind: str
) -> None:
    replier, _public = _replier(tmp_path, monkeypatch)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"Retry-After": "60"})

    with pytest.raises(ReplyRefused) as refused:
        replier.post(mock_client(handler), TARGET, TEXT, "k")
    assert refused.value.kind == kind
    token = seen[0].headers["Authorization"].removeprefix("Bearer ")
    pem = (tmp_path / "AuthKey_REPLYKEY99.p8").read_text()
    assert token not in refused.value.message
    assert ISSUER not in refused.value.message and "PRIVATE KEY" not in refused.value.message
    assert pem.splitlines()[1] not in refused.value.message
    if status == 401:
        assert "Authentication credentials are missing or invalid." in refused.value.message


def test_a_server_error_or_a_reset_is_unknown_and_a_refused_connection_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replier, _public = _replier(tmp_path, monkeypatch)
    with pytest.raises(ReplyUnknown):
        replier.post(answering(500, b"{}"), TARGET, TEXT, "k")

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected", request=request)

    with pytest.raises(ReplyUnknown):
        replier.post(mock_client(reset), TARGET, TEXT, "k")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ReplyRefused) as no_connection:
        replier.post(mock_client(refused), TARGET, TEXT, "k")
    assert no_connection.value.kind == "unreachable"
    with pytest.raises(ReplyUnknown, match="lacks the response's id"):
        replier.post(answering(201, b'{"data": {}}'), TARGET, TEXT, "k")


def test_an_unreadable_key_file_is_an_auth_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replier, _public = _replier(tmp_path, monkeypatch)
    monkeypatch.setenv("ASC_REPLY_KEY_PATH", str(tmp_path / "absent.p8"))
    with pytest.raises(ReplyRefused) as refused:
        replier.post(answering(201, CREATED), TARGET, TEXT, "k")
    assert refused.value.kind == "auth"
    assert "ASC_REPLY_KEY_PATH" in refused.value.message


def test_the_limit_is_5970_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replier, _public = _replier(tmp_path, monkeypatch)
    assert replier.check("ü" * 5970) is None
    problem = replier.check("a" * 5971)
    assert problem is not None and "at most 5970 characters" in problem


def test_find_own_reads_the_reviews_response_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=CREATED)

    replier, _public = _replier(tmp_path, monkeypatch)
    client = mock_client(handler)
    found = replier.find_own(client, TARGET, TEXT, RESPONDED_AT)
    assert found is not None and found.external_id == RESPONSE_ID
    assert seen[0].method == "GET"
    assert seen[0].url.path == f"/v1/customerReviews/{REVIEW_ID}/response"
    assert replier.find_own(client, TARGET, "Thanks!", RESPONDED_AT) is None
    later = datetime(2026, 11, 23, 12, 16, tzinfo=UTC)
    assert replier.find_own(client, TARGET, TEXT, later) is None
    assert replier.find_own(answering(404, ERROR_401), TARGET, TEXT, RESPONDED_AT) is None


def test_the_posted_response_is_the_one_a_later_poll_reads_once_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replier, _public = _replier(tmp_path, monkeypatch)
    posted = replier.post(answering(201, CREATED), TARGET, TEXT, "k")
    # the docs-built page once Apple has published our response to the USA review
    page = json.loads(PAGE1)
    created = copy.deepcopy(json.loads(CREATED)["data"])
    created["attributes"]["state"] = "PUBLISHED"
    page["included"].append(created)
    review = next(r for r in page["data"] if r["id"] == REVIEW_ID)
    review["relationships"]["response"]["data"] = {"type": created["type"], "id": created["id"]}
    del page["links"]["next"]
    monkeypatch.setenv("ASC_KEY_ID", "READKEY")
    monkeypatch.setenv("ASC_ISSUER_ID", ISSUER)
    monkeypatch.setenv("ASC_PRIVATE_KEY_PATH", str(tmp_path / "AuthKey_REPLYKEY99.p8"))
    connector = AppStoreConnector(
        AppStoreOptions.model_validate({"mode": "connect", "app_id": "682658836"}),
        feed_name="ios",
        identities=[BrandIdentity("appstore", handle="Acme Support")],
    )
    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    result = poll_with(connector, lambda r: httpx.Response(200, json=page), now)
    replies = {r.in_reply_to: r for r in result.brand_replies}
    assert replies[REVIEW_ID].external_id == posted.external_id
    assert replies[REVIEW_ID].created_at == posted.created_at


def test_end_to_end_a_signed_token_and_the_response_on_a_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replier, public = _replier(tmp_path, monkeypatch)

    def create(request: Request) -> Reply:
        try:
            _claims(request, public)
        except jwt.PyJWTError:
            return Reply(401, ERROR_401, {"Content-Type": "application/json"})
        return Reply(201, CREATED, {"Content-Type": "application/json"})

    with local_server() as server:
        server.route("/v1/customerReviewResponses", create)
        replier.base_url = server.url
        with httpx.Client() as client:
            posted = replier.post(client, TARGET, TEXT, "k1")
            again = replier.post(client, TARGET, TEXT, "k1")
    first, second = server.requests
    assert (first.method, first.path) == ("POST", "/v1/customerReviewResponses")
    assert first.json()["data"]["relationships"]["review"]["data"]["id"] == REVIEW_ID
    assert first.headers["authorization"] == second.headers["authorization"], "token reused"
    assert posted == again and posted.external_id == RESPONSE_ID
