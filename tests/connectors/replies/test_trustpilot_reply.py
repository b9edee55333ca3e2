"""The Trustpilot writer: the private reply, its read-back, each failure, and the round trip."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest

from connectors import BrandIdentity
from connectors.logins import Logins
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.trustpilot import TrustpilotReplier, TrustpilotReplyOptions
from connectors.sources.trustpilot import TrustpilotConnector, TrustpilotOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import Reply, Request, local_server
from tests.support.mock_http import mock_client, poll_with

# GET /v1/reviews/{id} once our reply is on it, and the documented token answer (SOURCES.md)
REVIEW = fixture_bytes("trustpilot", "review_get_with_our_companyReply_from_docs.json")
TOKEN = fixture_bytes("trustpilot", "oauth_accesstoken_client_credentials_from_docs.json")
MALFORMED = fixture_bytes(
    "trustpilot", "error_400_malformed_node-trustpilot_issue57_TRANSCRIBED.json"
)
PAGE = fixture_bytes("trustpilot", "business_unit_reviews_page1_from_docs.json")
BUSINESS_UNIT = "507f191e810c19729de860ea"
REVIEW_ID = "6740a1b2c3d4e5f601234567"
USER_ID = "5a1b2c3d4e5f60718293a4b5"
TEXT = "Det er vi kede af, Mette. Vi har sendt en ny pakke i dag."
REPLIED_AT = datetime(2026, 11, 23, 12, 4, 31, tzinfo=UTC)  # zoneless in the answer: UTC
KEY, SECRET = "tp-app-key-1", "tp-app-secret-1"
TARGET = ReplyTarget(
    platform="trustpilot",
    feed="acme-trustpilot",
    external_id=REVIEW_ID,
    created_at=datetime(2026, 11, 22, 8, 15, tzinfo=UTC),
    text="Jeg har ventet tre uger på min pakke...",
    url=f"https://www.trustpilot.com/reviews/{REVIEW_ID}",
    author="Mette Jensen",
)


def _replier(
    monkeypatch: pytest.MonkeyPatch,
    base_url: str = "https://api.trustpilot.com",
    **options: object,
) -> TrustpilotReplier:
    monkeypatch.setenv("TP_REPLY_KEY", KEY)
    monkeypatch.setenv("TP_REPLY_SECRET", SECRET)
    return TrustpilotReplier(
        TrustpilotReplyOptions.model_validate(
            {
                "business_user_id": USER_ID,
                "api_key_env": "TP_REPLY_KEY",
                "api_secret_env": "TP_REPLY_SECRET",
                **options,
            }
        ),
        feed_options=TrustpilotOptions(business_unit_id=BUSINESS_UNIT),
        base_url=base_url,
        logins=Logins(),
    )


class _Trustpilot:
    """Answers the token, the reply and the read-back as the docs show; `reply` sets the
    reply's answer."""

    def __init__(self, reply: httpx.Response | None = None, review: bytes = REVIEW) -> None:
        self.reply = reply or httpx.Response(201)
        self.review = review
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/accesstoken"):
            return httpx.Response(200, content=TOKEN)
        if request.url.path.endswith("/reply"):
            return self.reply
        return httpx.Response(200, content=self.review)


def test_post_logs_in_replies_as_the_business_user_and_reads_back_the_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    platform = _Trustpilot()
    posted = _replier(monkeypatch).post(mock_client(platform), TARGET, TEXT, "monitor-5-1")
    token, reply, review = platform.requests
    assert (token.method, str(token.url)) == (
        "POST",
        "https://api.trustpilot.com/v1/oauth/oauth-business-users-for-applications/accesstoken",
    )
    basic = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert token.headers["Authorization"] == f"Basic {basic}"
    assert parse_qs(token.content.decode()) == {"grant_type": ["client_credentials"]}
    assert (reply.method, str(reply.url)) == (
        "POST",
        f"https://api.trustpilot.com/v1/private/reviews/{REVIEW_ID}/reply",
    )
    assert reply.headers["Authorization"] == "Bearer AccessToken"
    assert json.loads(reply.content) == {"authorBusinessUserId": USER_ID, "message": TEXT}
    assert (review.method, str(review.url)) == (
        "GET",
        f"https://api.trustpilot.com/v1/reviews/{REVIEW_ID}",
    )
    assert review.headers["apikey"] == KEY
    assert posted.external_id == f"{REVIEW_ID}:reply"
    assert posted.created_at == REPLIED_AT
    assert posted.url == TARGET.url and posted.text == TEXT


def test_the_token_is_kept_for_the_next_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    platform = _Trustpilot()
    replier = _replier(monkeypatch)
    client = mock_client(platform)
    replier.post(client, TARGET, TEXT, "k1")
    replier.post(client, TARGET, TEXT, "k2")
    paths = [r.url.path for r in platform.requests]
    assert paths.count("/v1/oauth/oauth-business-users-for-applications/accesstoken") == 1


def test_a_refusal_quotes_trustpilots_message(monkeypatch: pytest.MonkeyPatch) -> None:
    platform = _Trustpilot(httpx.Response(400, content=MALFORMED))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(mock_client(platform), TARGET, TEXT, "k")
    assert refused.value.kind == "invalid"
    assert "The request was malformed" in refused.value.message
    assert [r.url.path.rsplit("/", 1)[-1] for r in platform.requests] == ["accesstoken", "reply"]


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_that_certainly_posted_nothing_are_refusals_without_secrets(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    platform = _Trustpilot(httpx.Response(status, headers={"Retry-After": "300"}))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(mock_client(platform), TARGET, TEXT, "k")
    assert refused.value.kind == kind
    for secret in (KEY, SECRET, "AccessToken"):
        assert secret not in refused.value.message
    if kind == "rate_limited":
        assert refused.value.retry_after == 300


def test_a_refused_token_is_forgotten_and_the_next_attempt_logs_in_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    platform = _Trustpilot(httpx.Response(401))
    replier = _replier(monkeypatch)
    client = mock_client(platform)
    for _attempt in range(2):
        with pytest.raises(ReplyRefused):
            replier.post(client, TARGET, TEXT, "k")
    paths = [r.url.path.rsplit("/", 1)[-1] for r in platform.requests]
    assert paths == ["accesstoken", "reply", "accesstoken", "reply"]


def test_a_failed_login_posts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"error": "invalid_client"})

    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(mock_client(handler), TARGET, TEXT, "k")
    assert refused.value.kind == "auth" and "invalid_client" in refused.value.message
    assert SECRET not in refused.value.message
    assert len(seen) == 1

    def down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with pytest.raises(ReplyRefused) as unreachable:
        _replier(monkeypatch).post(mock_client(down), TARGET, TEXT, "k")
    assert unreachable.value.kind == "unreachable"
    assert "nothing was posted" in unreachable.value.message


def test_a_server_error_a_reset_or_a_missing_read_back_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).post(mock_client(_Trustpilot(httpx.Response(500))), TARGET, TEXT, "k")

    platform = _Trustpilot()

    def reset_on_reply(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/reply"):
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return platform(request)

    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).post(mock_client(reset_on_reply), TARGET, TEXT, "k")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setenv("TP_TOKEN", "tp-token")  # a ready token: the reply is the first request
    with_token = _replier(monkeypatch, access_token_env="TP_TOKEN", api_secret_env=None)
    with pytest.raises(ReplyRefused) as no_connection:
        with_token.post(mock_client(refused), TARGET, TEXT, "k")
    assert no_connection.value.kind == "unreachable"

    # accepted, but the review does not show the reply yet, or cannot be read
    unanswered = fixture_bytes("trustpilot", "business_unit_reviews_page1_from_docs.json")
    review = json.dumps(json.loads(unanswered)["reviews"][0]).encode()
    with pytest.raises(ReplyUnknown, match="does not show it yet"):
        _replier(monkeypatch).post(mock_client(_Trustpilot(review=review)), TARGET, TEXT, "k")
    with pytest.raises(ReplyUnknown, match="could not be read back"):
        _replier(monkeypatch).post(mock_client(_Trustpilot(review=b"<html>")), TARGET, TEXT, "k")


def test_the_limit_is_configurable_and_tags_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.check("a" * 5000) is None
    problem = replier.check("a" * 5001)
    assert problem is not None and "at most 5000 characters" in problem
    assert _replier(monkeypatch, max_characters=8000).check("a" * 5001) is None
    tag = replier.check("Tak! <script>x</script>")
    assert tag is not None and "<script>" in tag


def test_find_own_reads_the_review_for_our_reply_since(monkeypatch: pytest.MonkeyPatch) -> None:
    platform = _Trustpilot()
    replier = _replier(monkeypatch)
    client = mock_client(platform)
    found = replier.find_own(client, TARGET, TEXT, REPLIED_AT)
    assert found is not None and found.external_id == f"{REVIEW_ID}:reply"
    assert [r.url.path for r in platform.requests] == [f"/v1/reviews/{REVIEW_ID}"]
    assert replier.find_own(client, TARGET, "Tak!", REPLIED_AT) is None
    later = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
    assert replier.find_own(client, TARGET, TEXT, later) is None


def test_the_posted_reply_is_the_one_a_later_poll_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    posted = _replier(monkeypatch).post(mock_client(_Trustpilot()), TARGET, TEXT, "k")
    page = json.loads(PAGE)
    page["reviews"][0] = json.loads(REVIEW)
    monkeypatch.setenv("TRUSTPILOT_API_KEY", "read-key")
    connector = TrustpilotConnector(
        TrustpilotOptions(business_unit_id=BUSINESS_UNIT),
        feed_name="acme-trustpilot",
        identities=[BrandIdentity("trustpilot", handle="Acme")],
    )
    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    result = poll_with(connector, lambda r: httpx.Response(200, json=page), now)
    replies = {r.in_reply_to: r for r in result.brand_replies}
    assert replies[REVIEW_ID].external_id == posted.external_id
    assert replies[REVIEW_ID].created_at == posted.created_at


def test_options_need_one_login_and_missing_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="one of api_secret_env and access_token_env"):
        TrustpilotReplyOptions(business_user_id=USER_ID, api_key_env="K")
    replier = _replier(monkeypatch)
    assert replier.missing() is None
    monkeypatch.delenv("TP_REPLY_SECRET")
    assert replier.missing() == "TP_REPLY_SECRET is not set"
    assert TrustpilotReplier.replaces_existing is True


def test_end_to_end_login_reply_and_read_back_on_a_local_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def reply(request: Request) -> Reply:
        if request.headers.get("authorization") != "Bearer AccessToken":
            return Reply(401)
        return Reply(201)

    with local_server() as server:
        server.route(
            "/v1/oauth/oauth-business-users-for-applications/accesstoken",
            Reply(200, TOKEN, {"Content-Type": "application/json"}),
        )
        server.route(f"/v1/private/reviews/{REVIEW_ID}/reply", reply)
        server.route(
            f"/v1/reviews/{REVIEW_ID}", Reply(200, REVIEW, {"Content-Type": "application/json"})
        )
        replier = _replier(monkeypatch, base_url=server.url)
        with httpx.Client() as client:
            posted = replier.post(client, TARGET, TEXT, "k1")
    token, sent, read = server.requests
    assert token.method == "POST" and parse_qs(token.body.decode())["grant_type"] == [
        "client_credentials"
    ]
    assert sent.json() == {"authorBusinessUserId": USER_ID, "message": TEXT}
    assert read.method == "GET" and read.headers["apikey"] == KEY
    assert posted.external_id == f"{REVIEW_ID}:reply" and posted.created_at == REPLIED_AT
