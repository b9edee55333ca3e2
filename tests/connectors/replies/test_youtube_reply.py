"""The YouTube writer: the exact request, the reply it returns, and each Google error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.base import BrandIdentity, MentionRecord
from connectors.logins import Logins
from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.youtube import YouTubeReplier, YouTubeReplyOptions
from connectors.sources.youtube import YouTubeConnector, YouTubeOptions
from tests.support.http_server import DROP, Reply, local_server

FIXTURES = Path(__file__).parents[2] / "fixtures" / "youtube"
# the documented answers of comments.insert and of a token refresh (SOURCES.md there)
CREATED = (FIXTURES / "comments_insert_reply_from_docs.json").read_bytes()
TOKEN = (FIXTURES / "token_refresh_from_docs.json").read_bytes()
THREADS = json.loads(
    (FIXTURES / "commentThreads_allThreadsRelatedToChannelId_2019.json").read_bytes()
)
TOKEN_URI = "https://oauth2.example.test/token"
API = "https://youtube.example.test/youtube/v3"
SECRETS = ("client-secret-9", "refresh-tok-77", "ya29.write-access-token")
TEXT = "Thank you! The full track list is in the description."
TARGET = ReplyTarget(
    platform="youtube",
    feed="acme-youtube",
    external_id="Ugw5zYU6n9pmIgAZWvN4AaABAg",
    created_at=datetime(2019, 12, 1, 3, 36, 10, tzinfo=UTC),
    text="This is so beautiful !",
    url="https://www.youtube.com/watch?v=JE8xdDp5B8Q&lc=Ugw5zYU6n9pmIgAZWvN4AaABAg",
    author="kun liu",
    author_id="UCNvMBmCASzTNNX8lW3JRMbw",
)
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def _replier(
    monkeypatch: pytest.MonkeyPatch,
    *,
    token_uri: str = TOKEN_URI,
    base_url: str = API,
    logins: Logins | None = None,
    **options: Any,
) -> YouTubeReplier:
    monkeypatch.setenv("ACME_YT_CLIENT", "client-id-1.apps.googleusercontent.com")
    monkeypatch.setenv("ACME_YT_SECRET", "client-secret-9")
    monkeypatch.setenv("ACME_YT_REFRESH", "refresh-tok-77")
    return YouTubeReplier(
        YouTubeReplyOptions(
            client_id_env="ACME_YT_CLIENT",
            client_secret_env="ACME_YT_SECRET",
            refresh_token_env="ACME_YT_REFRESH",
            token_uri=token_uri,
            **options,
        ),
        feed_options=YouTubeOptions(channel_id="UCa-vrCLQHviTOVnEKDOdetQ"),
        base_url=base_url,
        logins=logins,
    )


class Api:
    """Answers the token endpoint with the documented token, the rest from `answers`."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if str(request.url) == TOKEN_URI:
            return httpx.Response(200, content=TOKEN, headers=JSON)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def api(self) -> list[httpx.Request]:
        return [r for r in self.requests if str(r.url) != TOKEN_URI]


def _error(name: str, status: int) -> httpx.Response:
    return httpx.Response(status, content=(FIXTURES / name).read_bytes(), headers=JSON)


def _no_secret(message: str) -> None:
    for secret in SECRETS:
        assert secret not in message


def test_post_replies_in_the_thread_with_the_channels_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = Api(httpx.Response(200, content=CREATED, headers=JSON))
    posted = _replier(monkeypatch).post(api.client(), TARGET, TEXT, "monitor-reply-1")
    token, request = api.requests
    assert token.method == "POST" and str(token.url) == TOKEN_URI
    assert parse_qs(token.content.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": ["client-id-1.apps.googleusercontent.com"],
        "client_secret": ["client-secret-9"],
        "refresh_token": ["refresh-tok-77"],
        "scope": ["https://www.googleapis.com/auth/youtube.force-ssl"],
    }
    assert request.method == "POST"
    assert str(request.url) == f"{API}/comments?part=snippet"
    assert request.headers["Authorization"] == "Bearer ya29.write-access-token"
    assert "key" not in request.url.params  # the feed's API key is not a write credential
    assert json.loads(request.content) == {
        "snippet": {"parentId": "Ugw5zYU6n9pmIgAZWvN4AaABAg", "textOriginal": TEXT}
    }
    assert posted.external_id == "Ugw5zYU6n9pmIgAZWvN4AaABAg.91zbGm2kQ0T91zbGm2kQ0T"
    assert posted.created_at == datetime(2019, 12, 1, 5, 2, 44, tzinfo=UTC)
    assert posted.author_id == "UCa-vrCLQHviTOVnEKDOdetQ"
    assert posted.url == (
        "https://www.youtube.com/watch?v=JE8xdDp5B8Q"
        "&lc=Ugw5zYU6n9pmIgAZWvN4AaABAg.91zbGm2kQ0T91zbGm2kQ0T"
    )
    assert posted.text == TEXT


def test_the_text_goes_out_as_typed_and_a_reply_id_answers_its_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed = "<b>*not* bold</b> [x](http://evil.example)\nsecond line"
    api = Api(httpx.Response(200, content=CREATED, headers=JSON))
    reply_target = ReplyTarget(**{**TARGET.__dict__, "external_id": TARGET.external_id + ".abc"})
    _replier(monkeypatch).post(api.client(), reply_target, typed, "k")
    (request,) = api.api()
    snippet = json.loads(request.content)["snippet"]
    assert snippet == {"parentId": "Ugw5zYU6n9pmIgAZWvN4AaABAg", "textOriginal": typed}


@pytest.mark.parametrize(
    ("fixture", "status", "kind", "words"),
    [
        ("error_400_commentTextTooLong_from_docs.json", 400, "invalid", "too many characters"),
        ("error_403_ineligibleAccount_from_docs.json", 403, "auth", "must be merged"),
        ("error_403_permission_denied.json", 403, "auth", "does not have permission"),
        ("error_403_quotaExceeded_from_docs.json", 403, "rate_limited", "quotaExceeded"),
        ("error_403_rateLimitExceeded_from_docs.json", 403, "rate_limited", "rate limit"),
    ],
)
def test_the_error_envelope_decides_before_the_status(
    monkeypatch: pytest.MonkeyPatch, fixture: str, status: int, kind: str, words: str
) -> None:
    api = Api(_error(fixture, status))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(api.client(), TARGET, TEXT, "k")
    assert refused.value.kind == kind
    assert words in refused.value.message
    assert "nothing was posted" in refused.value.message
    if fixture.startswith("error_403_quota"):
        # until midnight Pacific time: never more than a day
        assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 86400
    _no_secret(refused.value.message)


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_that_certainly_posted_nothing_are_refusals(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    api = Api(httpx.Response(status, headers={"Retry-After": "30"}, json={}))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(api.client(), TARGET, TEXT, "k")
    assert refused.value.kind == kind
    _no_secret(refused.value.message)


def test_a_refused_token_is_refreshed_on_the_next_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch, logins=Logins())
    api = Api(httpx.Response(401, json={}), httpx.Response(200, content=CREATED, headers=JSON))
    with api.client() as client:
        with pytest.raises(ReplyRefused):
            replier.post(client, TARGET, TEXT, "k1")
        replier.post(client, TARGET, TEXT, "k2")
    assert [str(r.url) for r in api.requests].count(TOKEN_URI) == 2


def test_a_revoked_refresh_token_is_an_auth_refusal_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    revoked = (Path(__file__).parents[2] / "fixtures" / "googlebusiness").joinpath(
        "token_invalid_grant_from_docs.json"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=revoked.read_bytes(), headers=JSON)

    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(
            httpx.Client(transport=httpx.MockTransport(handler)), TARGET, TEXT, "k"
        )
    assert refused.value.kind == "auth"
    assert "invalid_grant" in refused.value.message
    assert "ACME_YT_REFRESH" in refused.value.message
    _no_secret(refused.value.message)


def test_a_server_error_or_a_reset_after_sending_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = {"error": {"code": 503, "message": "The service is currently unavailable."}}
    for answer in (
        httpx.Response(503, json=backend),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.Response(200, text="<html>proxy page</html>"),
    ):
        with pytest.raises(ReplyUnknown) as unknown:
            _replier(monkeypatch).post(Api(answer).client(), TARGET, TEXT, "k")
        _no_secret(unknown.value.message)


def test_a_refused_connection_posted_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api(httpx.ConnectError("connection refused"))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(api.client(), TARGET, TEXT, "k")
    assert refused.value.kind == "unreachable"


def test_the_limit_and_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.check("a" * 10_000) is None
    problem = replier.check("a" * 10_001)
    assert problem is not None and "at most 10000" in problem
    assert replier.missing() is None
    monkeypatch.delenv("ACME_YT_REFRESH")
    assert replier.missing() == "ACME_YT_REFRESH is not set"


def _replies(*comments: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200, json={"kind": "youtube#commentListResponse", "items": list(comments)}
    )


def test_find_own_lists_the_threads_replies_for_the_brand_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours = json.loads(CREATED)
    page1 = json.loads((FIXTURES / "comments_parentId_Ugw5z_page1_2019.json").read_bytes())
    theirs = page1["items"]  # kun liu's replies in the same thread
    mine = httpx.Response(200, json={"items": [{"id": "UCa-vrCLQHviTOVnEKDOdetQ"}]})
    api = Api(mine, _replies(ours, *theirs), _replies(ours, *theirs), _replies(ours, *theirs))
    replier = _replier(monkeypatch)
    with api.client() as client:
        since = datetime(2019, 12, 1, 5, 2, 0, tzinfo=UTC)
        found = replier.find_own(client, TARGET, TEXT, since)
        assert found is not None and found.external_id == ours["id"]
        assert replier.find_own(client, TARGET, "this is the third reply!", since) is None
        later = datetime(2019, 12, 1, 6, 0, tzinfo=UTC)
        assert replier.find_own(client, TARGET, TEXT, later) is None
    channels, comments = api.api()[:2]
    assert channels.url.path.endswith("/channels")
    assert dict(channels.url.params) == {"part": "id", "mine": "true"}
    assert comments.url.path.endswith("/comments")
    assert comments.url.params["parentId"] == "Ugw5zYU6n9pmIgAZWvN4AaABAg"
    assert comments.headers["Authorization"] == "Bearer ya29.write-access-token"
    # the channel is asked once per look; a configured channel_id saves the call
    api = Api(_replies(ours))
    found = _replier(monkeypatch, channel_id="UCa-vrCLQHviTOVnEKDOdetQ").find_own(
        api.client(), TARGET, TEXT, since
    )
    assert found is not None and [r.url.path for r in api.api()] == ["/youtube/v3/comments"]


def test_find_own_that_cannot_ask_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api(_error("error_403_quotaExceeded_from_docs.json", 403))
    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch, channel_id="UCx").find_own(
            api.client(), TARGET, TEXT, datetime(2019, 1, 1, tzinfo=UTC)
        )


def test_a_later_recheck_finds_the_posted_reply_stored_not_new(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = Api(httpx.Response(200, content=CREATED, headers=JSON))
    posted = _replier(monkeypatch).post(api.client(), TARGET, TEXT, "k")
    # the recorded thread, as commentThreads?id= returns it once the reply is there
    (thread,) = [t for t in THREADS["items"] if t["id"] == TARGET.external_id]
    thread = {
        **thread,
        "snippet": {**thread["snippet"], "totalReplyCount": 1},
        "replies": {"comments": [json.loads(CREATED)]},
    }
    monkeypatch.setenv("YOUTUBE_API_KEY", "read-key")
    connector = YouTubeConnector(
        YouTubeOptions(channel_id="UCa-vrCLQHviTOVnEKDOdetQ"),
        feed_name="acme-youtube",
        identities=(BrandIdentity(platform="youtube", account_id="UCa-vrCLQHviTOVnEKDOdetQ"),),
        base_url=API,
    )
    mention = MentionRecord(
        platform="youtube",
        external_id=TARGET.external_id,
        created_at=TARGET.created_at,
        text=TARGET.text,
        url=TARGET.url,
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"items": [thread]})

    with httpx.Client(transport=httpx.MockTransport(handler)) as read:
        (reply,) = connector.recheck(read, [mention], datetime(2026, 1, 1, tzinfo=UTC))
    assert reply.external_id == posted.external_id
    assert reply.in_reply_to == TARGET.external_id
    assert reply.created_at == posted.created_at
    assert reply.url == posted.url


def test_posting_through_a_real_http_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with local_server() as server:
        server.route("/token", Reply(200, TOKEN, JSON))
        server.route("/youtube/v3/comments", Reply(200, CREATED, JSON))
        replier = _replier(
            monkeypatch, token_uri=f"{server.url}/token", base_url=f"{server.url}/youtube/v3"
        )
        with httpx.Client() as client:
            posted = replier.post(client, TARGET, TEXT, "k")
        server.route(
            "/youtube/v3/comments",
            Reply(403, (FIXTURES / "error_403_quotaExceeded_from_docs.json").read_bytes(), JSON),
        )
        with httpx.Client() as client, pytest.raises(ReplyRefused) as quota:
            replier.post(client, TARGET, TEXT, "k2")
        server.route("/youtube/v3/comments", Reply(DROP))
        with httpx.Client() as client, pytest.raises(ReplyUnknown):
            replier.post(client, TARGET, TEXT, "k3")
        token, first = server.requests[:2]
    assert token.path == "/token" and parse_qs(token.body.decode())["grant_type"] == [
        "refresh_token"
    ]
    assert first.method == "POST" and first.query == {"part": ["snippet"]}
    assert first.headers["authorization"] == "Bearer ya29.write-access-token"
    assert first.json() == {"snippet": {"parentId": TARGET.external_id, "textOriginal": TEXT}}
    assert posted.external_id.startswith(TARGET.external_id + ".")
    assert quota.value.kind == "rate_limited"


def test_the_access_token_is_kept_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    logins = Logins()
    api = Api(*[httpx.Response(200, content=CREATED, headers=JSON) for _ in range(2)])
    with api.client() as client:
        _replier(monkeypatch, logins=logins).post(client, TARGET, TEXT, "k1")
        _replier(monkeypatch, logins=logins).post(client, TARGET, TEXT, "k2")
    assert [str(r.url) for r in api.requests].count(TOKEN_URI) == 1
