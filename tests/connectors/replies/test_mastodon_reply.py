"""The Mastodon writer: the exact request, the recorded status it returns, and each failure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.replies.base import ReplyRefused, ReplyTarget, ReplyUnknown
from connectors.replies.mastodon import MastodonReplier, MastodonReplyOptions
from connectors.sources.mastodon import MastodonOptions

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mastodon"
# the real answer to POST /api/v1/statuses with in_reply_to_id (SOURCES.md there)
CREATED = (FIXTURES / "status_reply_with_in_reply_to_local_instance.json").read_bytes()
TARGET = ReplyTarget(
    platform="mastodon",
    feed="acme-mastodon",
    external_id="117020583245459824",
    created_at=datetime(2026, 8, 1, 13, 50, tzinfo=UTC),
    text="is acme down?",
    author="mastodonpy_test_2",
)


def _replier(monkeypatch: pytest.MonkeyPatch, **options: object) -> MastodonReplier:
    monkeypatch.setenv("ACME_MASTODON_WRITE", "write-token-123")
    return MastodonReplier(
        MastodonReplyOptions(token_env="ACME_MASTODON_WRITE", **options),  # type: ignore[arg-type]
        feed_options=MastodonOptions(tag="acme"),
        base_url="http://localhost:3000",
    )


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler)


def test_post_sends_the_status_with_the_key_and_returns_the_platform_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=CREATED)

    replier = _replier(monkeypatch)
    posted = replier.post(
        _client(httpx.MockTransport(handler)), TARGET, "same!", "monitor-reply-7-1"
    )
    (request,) = seen
    assert request.method == "POST"
    assert request.url == "http://localhost:3000/api/v1/statuses"
    assert request.headers["Authorization"] == "Bearer write-token-123"
    assert request.headers["Idempotency-Key"] == "monitor-reply-7-1"
    assert parse_qs(request.content.decode()) == {
        "status": ["same!"],
        "in_reply_to_id": ["117020583245459824"],
        "visibility": ["public"],
    }
    assert posted.external_id == "117020583258292382"
    assert posted.created_at == datetime(2026, 8, 1, 13, 53, 15, 910000, tzinfo=UTC)
    assert posted.author == "admin"
    assert posted.url == "http://localhost:3000/@admin/117020583258292382"


def test_a_validation_error_is_refused_with_mastodons_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the documented 422 body: https://docs.joinmastodon.org/methods/statuses/#create
    answer = {"error": "Validation failed: Text character limit of 500 exceeded"}
    transport = httpx.MockTransport(lambda request: httpx.Response(422, json=answer))
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(_client(transport), TARGET, "x", "k")
    assert refused.value.kind == "invalid"
    assert "Text character limit of 500 exceeded" in refused.value.message
    assert "nothing was posted" in refused.value.message


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "auth"), (403, "auth"), (404, "gone"), (429, "rate_limited")]
)
def test_statuses_that_certainly_posted_nothing_are_refusals(
    monkeypatch: pytest.MonkeyPatch, status: int, kind: str
) -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, headers={"Retry-After": "30"}, json={})
    )
    with pytest.raises(ReplyRefused) as refused:
        _replier(monkeypatch).post(_client(transport), TARGET, "x", "k")
    assert refused.value.kind == kind
    assert "write-token-123" not in refused.value.message


def test_a_server_error_or_a_reset_after_sending_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).post(_client(transport), TARGET, "x", "k")

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    with pytest.raises(ReplyUnknown):
        _replier(monkeypatch).post(_client(httpx.MockTransport(reset)), TARGET, "x", "k")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ReplyRefused) as no_connection:
        _replier(monkeypatch).post(_client(httpx.MockTransport(refused)), TARGET, "x", "k")
    assert no_connection.value.kind == "unreachable"


def test_find_own_finds_the_brand_reply_in_the_context_after_since(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = json.loads(CREATED)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("verify_credentials"):
            return httpx.Response(200, json=created["account"])
        assert request.url.path == "/api/v1/statuses/117020583245459824/context"
        return httpx.Response(200, json={"ancestors": [], "descendants": [created]})

    replier = _replier(monkeypatch)
    client = _client(httpx.MockTransport(handler))
    # the recorded status's text, as the HTML renders it
    text = "@mastodonpy_test_2 same!"
    found = replier.find_own(client, TARGET, text, datetime(2026, 8, 1, 13, 53, tzinfo=UTC))
    assert found is not None and found.external_id == "117020583258292382"
    assert replier.find_own(client, TARGET, "other text", datetime(2026, 8, 1, tzinfo=UTC)) is None
    later = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
    assert replier.find_own(client, TARGET, text, later) is None


def test_the_instance_limit_is_checked_before_posting(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.check("a" * 500) is None
    problem = replier.check("a" * 501)
    assert problem is not None and "at most 500" in problem and "by 1" in problem
    assert _replier(monkeypatch, max_characters=1000).check("a" * 501) is None
    assert replier.check("   ") == "The reply is empty."


def test_missing_names_the_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    replier = _replier(monkeypatch)
    assert replier.missing() is None
    monkeypatch.delenv("ACME_MASTODON_WRITE")
    assert replier.missing() == "ACME_MASTODON_WRITE is not set"


def test_length_counts_a_link_as_23_and_a_remote_mention_by_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replier = _replier(monkeypatch)
    link = "https://example.com/" + "a" * 200
    assert replier.length(f"see {link}") == 4 + 23
    assert replier.length("@jane@mastodon.social hi") == len("@jane hi")
    assert replier.check("x" * 470 + " " + link) is None  # 494 as Mastodon counts it
