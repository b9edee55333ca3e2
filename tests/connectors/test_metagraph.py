"""The shared Graph API module: token and proof sent, error envelope mapped, usage read, paging."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors import AuthError, MalformedResponse, NotFoundError, RateLimited
from connectors.errors import TransientError
from connectors.metagraph import (
    DEFAULT_RATE_LIMIT_WAIT,
    USAGE_WAIT,
    GraphDeprecated,
    appsecret_proof,
    graph_get,
    next_page,
    rate_limit_wait,
    usage_wait,
)
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client

BASE = "https://graph.facebook.com/v21.0"
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
TOKEN = "EAAGm0PX4ZCpsBAKZCZCfakefaketoken"
STREAM = fixture_bytes(
    "facebook", "post_comments_stream_p1_fb_developers_page_replies_2021-08_pyfacebook.json"
)
TOPLEVEL = fixture_bytes("facebook", "post_comments_toplevel_with_from_p1_2019-12_pyfacebook.json")
USAGE: dict[str, dict[str, str]] = json.loads(
    fixture_bytes("facebook", "usage_headers_from_docs.json")
)


def _get(status: int, body: bytes, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    recording = Recording(lambda request: httpx.Response(status, content=body, headers=headers))
    with mock_client(recording) as client:
        result = graph_get(
            client, BASE, "19292868552/posts", {"fields": "id"}, token=TOKEN,
            token_env="FACEBOOK_PAGE_TOKEN", what="Facebook /posts", **kw,
        )  # fmt: skip
    return recording, result


def test_token_and_appsecret_proof_are_sent() -> None:
    recording, (_, data) = _get(200, STREAM, app_secret="s3cret-app")
    url = recording.requests[0].url
    assert url.path == "/v21.0/19292868552/posts"
    assert url.params["access_token"] == TOKEN
    assert url.params["fields"] == "id"
    expected = hmac.new(b"s3cret-app", TOKEN.encode(), hashlib.sha256).hexdigest()
    assert url.params["appsecret_proof"] == expected == appsecret_proof(TOKEN, "s3cret-app")
    assert len(data["data"]) == 10


def test_no_proof_without_an_app_secret() -> None:
    recording, _ = _get(200, STREAM)
    assert "appsecret_proof" not in recording.requests[0].url.params


@pytest.mark.parametrize(
    ("name", "status", "cls", "words"),
    [
        ("error_190_463_expired_from_docs.json", 400, AuthError, "long-lived token"),
        ("error_10_permission_from_docs.json", 403, AuthError, "lacks a permission"),
        ("error_4_app_request_limit_from_docs.json", 403, RateLimited, "Application request"),
        ("error_32_page_request_limit_from_docs.json", 400, RateLimited, "Page request"),
        ("error_80001_pages_buc_limit_from_docs.json", 400, RateLimited, "too many calls"),
        ("error_100_33_does_not_exist_from_docs.json", 400, NotFoundError, "does not exist"),
        ("error_12_ratings_deprecated_from_docs.json", 400, GraphDeprecated, "base_url"),
    ],
)
def test_error_envelope_maps_to_our_errors(
    name: str, status: int, cls: type[Exception], words: str
) -> None:
    with pytest.raises(cls) as caught:
        _get(status, fixture_bytes("facebook", name))
    assert type(caught.value) is cls
    assert words in str(caught.value)
    if cls is AuthError:
        assert "FACEBOOK_PAGE_TOKEN" in str(caught.value)


def test_rate_limit_error_waits_what_the_buc_header_says() -> None:
    body = fixture_bytes("facebook", "error_80001_pages_buc_limit_from_docs.json")
    with pytest.raises(RateLimited) as caught:
        _get(400, body, USAGE["buc_throttled"])
    assert caught.value.retry_after == 19 * 60
    with pytest.raises(RateLimited) as plain:
        _get(400, body)
    assert plain.value.retry_after == DEFAULT_RATE_LIMIT_WAIT
    with pytest.raises(RateLimited) as told:
        _get(400, body, {"Retry-After": "42"})
    assert told.value.retry_after == 42


def test_the_token_quoted_by_an_error_is_not_repeated() -> None:
    with pytest.raises(AuthError) as caught:
        _get(400, fixture_bytes("facebook", "error_190_malformed_token_from_docs.json"))
    assert TOKEN not in str(caught.value)
    assert "Malformed access token ***" in str(caught.value)


def test_transient_and_unknown_codes() -> None:
    transient = json.dumps({"error": {"message": "An unknown error occurred", "code": 1}})
    with pytest.raises(TransientError) as caught:
        _get(500, transient.encode())
    assert not isinstance(caught.value, RateLimited)
    odd = json.dumps(
        {"error": {"message": "(#100) Tried accessing nonexisting field", "code": 100}}
    )
    with pytest.raises(MalformedResponse) as bad:
        _get(400, odd.encode())
    assert not isinstance(bad.value, NotFoundError)


def test_no_envelope_falls_back_to_the_status_and_junk_is_malformed() -> None:
    with pytest.raises(TransientError):
        _get(502, b"<html>bad gateway</html>")
    with pytest.raises(MalformedResponse):
        _get(200, b"[1, 2]")


def test_usage_wait_slows_down_at_ninety_percent() -> None:
    assert usage_wait(USAGE["below"], NOW) is None
    assert usage_wait(USAGE["buc_below"], NOW) is None
    assert usage_wait({}, NOW) is None
    assert usage_wait(USAGE["app_at_90"], NOW) == NOW + timedelta(seconds=USAGE_WAIT)
    assert usage_wait(USAGE["page_at_100"], NOW) == NOW + timedelta(hours=1)
    assert usage_wait(USAGE["buc_throttled"], NOW) == NOW + timedelta(minutes=19)
    # the latest of several budgets wins; the header name is case-insensitive
    both = {
        **USAGE["app_at_90"],
        "x-business-use-case-usage": USAGE["buc_throttled"]["X-Business-Use-Case-Usage"],
    }
    assert usage_wait(both, NOW) == NOW + timedelta(minutes=19)
    assert usage_wait(httpx.Headers(USAGE["app_at_90"]), NOW) == NOW + timedelta(seconds=USAGE_WAIT)
    # a lower threshold is the caller's to choose
    assert usage_wait(USAGE["below"], NOW, threshold=25) == NOW + timedelta(seconds=USAGE_WAIT)


def test_unreadable_usage_headers_are_ignored() -> None:
    assert usage_wait({"X-App-Usage": "not json"}, NOW) is None
    assert usage_wait({"X-App-Usage": "[90]"}, NOW) is None
    assert usage_wait({"X-Business-Use-Case-Usage": '{"1": "x"}'}, NOW) is None
    assert rate_limit_wait({}) == DEFAULT_RATE_LIMIT_WAIT


def test_next_page_follows_the_same_host_only() -> None:
    data = json.loads(STREAM)
    # the recorded next is on graph.facebook.com: followed with its query, token dropped
    where, params = next_page(data, "https://graph.facebook.com/v11.0", "x/comments", {}) or (
        "",
        {},
    )
    assert where == "https://graph.facebook.com/v11.0/19292868552_10158407654328553/comments"
    assert params["after"] == "after" and params["filter"] == "stream"
    assert "access_token" not in params
    # a local test server as base_url: the recorded graph.facebook.com URL is not followed,
    # the cursor is, on the path asked
    local = next_page(data, "http://127.0.0.1:8080", "p_1/comments", {"limit": "10"})
    assert local == ("p_1/comments", {"limit": "10", "after": "after"})
    # the last page has no paging.next
    last = {"data": [], "paging": {"cursors": {"before": "b", "after": "a"}}}
    assert next_page(last, BASE, "x", {}) is None
    assert next_page({"data": []}, BASE, "x", {}) is None


def test_graph_get_refuses_a_url_on_another_host() -> None:
    recording = Recording(lambda request: httpx.Response(200, content=TOPLEVEL))
    with mock_client(recording) as client, pytest.raises(MalformedResponse):
        graph_get(client, BASE, "https://evil.example/steal", token=TOKEN, token_env="T")
    assert recording.requests == []


def test_graph_get_follows_a_next_url_on_the_same_host_with_our_token() -> None:
    data = json.loads(TOPLEVEL)
    page = next_page(data, "https://graph.facebook.com/v8.0", "p/comments", {})
    assert page is not None
    recording = Recording(lambda request: httpx.Response(200, content=STREAM))
    with mock_client(recording) as client:
        graph_get(client, BASE, page[0], page[1], token=TOKEN, token_env="T")
    sent = recording.requests[0].url
    assert sent.host == "graph.facebook.com"
    assert sent.params["access_token"] == TOKEN  # not the recorded "token" placeholder
    assert sent.params["order"] == "chronological"


def test_a_304_returns_an_empty_object_for_the_caller_to_keep_its_state() -> None:
    """A conditional GET answered by a cache: nothing to parse, and not junk either."""
    _, (response, data) = _get(304, b"")
    assert response.status_code == 304
    assert data == {}
