"""The googlebusiness connector over recorded and documentation-built review pages."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor
from connectors.sources.googlebusiness import (
    GoogleBusinessConnector,
    GoogleBusinessOptions,
    parse_time,
    split_translation,
)
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import mock_client

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ACCOUNT, LOCATION = "108494581129006735086", "6394464039148850881"
PATH = f"/v4/accounts/{ACCOUNT}/locations/{LOCATION}/reviews"
PAGE1 = json.loads(fixture_bytes("googlebusiness", "reviews_list_page1_from_docs.json"))
PAGE2 = json.loads(fixture_bytes("googlebusiness", "reviews_list_page2_from_docs.json"))
RECORDED = json.loads(
    fixture_bytes(
        "googlebusiness", "reviews_list_2021_reply_16min_and_null_reply_PARTLY_EDITED.json"
    )
)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_BUSINESS_ACCESS_TOKEN", "ya29.test")


def _connector(**options: Any) -> GoogleBusinessConnector:
    return GoogleBusinessConnector(
        GoogleBusinessOptions.model_validate(
            {"account": f"accounts/{ACCOUNT}", "location": LOCATION, **options}
        ),
        feed_name="acme-google",
        identities=[BrandIdentity("googlebusiness", handle="Acme Coffee")],
    )


def _pages(
    first: Any, second: Any = PAGE2, requests: list[httpx.Request] | None = None
) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if requests is not None:
            requests.append(request)
        return httpx.Response(200, json=second if "pageToken" in request.url.params else first)

    return mock_client(handler)


def test_first_poll_pages_by_update_time_and_stops_at_the_backfill_window() -> None:
    requests: list[httpx.Request] = []
    with _pages(PAGE1, requests=requests) as client:
        result = _connector().poll(client, FeedCursor(), NOW)
    assert [r.url.path for r in requests] == [PATH, PATH]
    first, second = (dict(r.url.params) for r in requests)
    assert first == {"orderBy": "updateTime desc", "pageSize": "50"}
    assert second["pageToken"] == "docs-page-2-token"
    assert requests[0].headers["Authorization"] == "Bearer ya29.test"
    # page 2's review (updated 2026-09-30) is older than now - 30 days
    assert [m.external_id for m in result.mentions] == [
        "AbFvOqnDocsBuilt0001",
        "AbFvOqnDocsBuilt0002",
        "AbFvOqnDocsBuilt0003",
        "AbFvOqnDocsBuilt0004",
    ]
    assert "AbFvOqnDocsBuilt0005" not in {r.in_reply_to for r in result.brand_replies}
    assert result.state.cursor == "2026-11-22T18:04:05.123000+00:00"


def test_one_star_dutch_review_keeps_the_original_and_the_translation_aside() -> None:
    with _pages(PAGE1) as client:
        result = _connector().poll(client, FeedCursor(), NOW)
    dutch = result.mentions[0]
    assert dutch.rating == 1.0
    assert dutch.text == "Koude koffie en niemand nam de telefoon op."
    assert dutch.extra["translation"] == "Cold coffee and nobody answered the phone."
    assert dutch.author == "Jan Peeters"
    assert dutch.created_at == datetime(2026, 11, 22, 18, 4, 5, 123000, tzinfo=UTC)
    assert dutch.language is None, "the API has no language field"
    assert dutch.edited_after_reply is False


def test_owner_reply_is_modified_only_and_a_later_review_edit_is_flagged() -> None:
    with _pages(PAGE1) as client:
        result = _connector().poll(client, FeedCursor(), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "AbFvOqnDocsBuilt0002")
    assert reply.external_id == "AbFvOqnDocsBuilt0002:reply"
    assert reply.created_at == datetime(2026, 11, 20, 11, 15, tzinfo=UTC)
    assert reply.seen_modified_only is True
    assert reply.author == "Acme Coffee"
    assert reply.text == "We're sorry, Priya. Our manager will call you today."
    review = result.mentions[1]
    assert review.rating == 2.0
    assert review.created_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    # updateTime 2026-11-22T07:30:00.5Z is after the reply's 2026-11-20T11:15:00Z
    assert review.edited_after_reply is True
    assert review.extra["updated_at"] == "2026-11-22T07:30:00.500000+00:00"


def test_unrated_anonymous_review_and_a_reply_without_update_time() -> None:
    with _pages(PAGE1) as client:
        result = _connector().poll(client, FeedCursor(), NOW)
    review = result.mentions[2]
    assert (review.rating, review.author, review.text) == (None, None, "")
    reply = next(r for r in result.brand_replies if r.in_reply_to == "AbFvOqnDocsBuilt0003")
    assert (reply.created_at, reply.seen_modified_only) == (NOW, True)
    assert any("AbFvOqnDocsBuilt0003" in w and "updateTime" in w for w in result.warnings)
    assert result.mentions[3].created_at == datetime(2026, 11, 19, 8, 0, 0, 123456, tzinfo=UTC)


def test_recorded_reply_sixteen_minutes_after_the_review() -> None:
    with _pages(RECORDED, {}) as client:
        result = _connector().poll(client, FeedCursor(), datetime(2021, 3, 5, tzinfo=UTC))
    # the recording repeats one reviewId; the first copy is kept and the repeat reported
    [mention] = result.mentions
    assert mention.author == "Ihor K"
    assert mention.rating == 5.0
    assert any("appears twice" in w for w in result.warnings)
    [reply] = result.brand_replies
    assert reply.in_reply_to == mention.external_id
    assert reply.created_at - mention.created_at == timedelta(minutes=16, seconds=12.335)


def test_null_review_reply_and_an_absent_one_both_mean_no_reply() -> None:
    page = copy.deepcopy(RECORDED)
    page["reviews"][1]["reviewId"] = "second-review"  # the recording reuses the first id
    with _pages(page, {}) as client:
        result = _connector().poll(client, FeedCursor(), datetime(2021, 3, 5, tzinfo=UTC))
    assert [m.author for m in result.mentions] == ["Ihor K", "Vasya P"]
    assert [r.in_reply_to for r in result.brand_replies] == [result.mentions[0].external_id]


def test_later_poll_returns_updated_reviews_and_rereads_replies() -> None:
    with _pages(PAGE1) as client:
        first = _connector().poll(client, FeedCursor(), NOW)
        second = _connector().poll(client, first.state, NOW + timedelta(minutes=15))
    assert [m.external_id for m in second.mentions] == ["AbFvOqnDocsBuilt0001"]
    assert {r.in_reply_to for r in second.brand_replies} == {
        "AbFvOqnDocsBuilt0002",
        "AbFvOqnDocsBuilt0003",
    }
    assert second.state.cursor == first.state.cursor


def test_missing_access_token_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_BUSINESS_ACCESS_TOKEN")
    with _pages(PAGE1) as client, pytest.raises(AuthError) as caught:
        _connector().poll(client, FeedCursor(), NOW)
    assert "GOOGLE_BUSINESS_ACCESS_TOKEN" in str(caught.value)
    assert "business.manage" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "fixture", "hint"),
    [
        (401, "error_401_UNAUTHENTICATED_googleapis_TRANSCRIBED.json", "expire"),
        (403, "error_403_api_disabled_from_docs.json", "enabled"),
    ],
)
def test_rejected_token_is_an_auth_error_saying_what_to_fix(
    status: int, fixture: str, hint: str
) -> None:
    body = fixture_bytes("googlebusiness", fixture)
    handler = lambda request: httpx.Response(status, content=body)  # noqa: E731
    with (
        mock_client(handler) as client,
        pytest.raises(AuthError) as caught,
    ):
        _connector().poll(client, FeedCursor(), NOW)
    message = str(caught.value)
    assert "GOOGLE_BUSINESS_ACCESS_TOKEN" in message and hint in message


REFRESH = {
    "client_id_env": "GBP_CLIENT_ID",
    "client_secret_env": "GBP_CLIENT_SECRET",
    "refresh_token_env": "GBP_REFRESH_TOKEN",
}


@pytest.fixture
def _refresh_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GBP_CLIENT_ID", "client-1.apps.googleusercontent.com")
    monkeypatch.setenv("GBP_CLIENT_SECRET", "secret-1")
    monkeypatch.setenv("GBP_REFRESH_TOKEN", "1//refresh-1")


@pytest.mark.usefixtures("_refresh_env")
def test_refresh_token_flow_gets_one_access_token_through_the_feed_client() -> None:
    token_requests: list[httpx.Request] = []
    api_requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "oauth2.googleapis.com":
            token_requests.append(request)
            return httpx.Response(
                200, json={"access_token": "ya29.fresh", "expires_in": 3599, "token_type": "Bearer"}
            )
        api_requests.append(request)
        return httpx.Response(200, json=PAGE1 if "pageToken" not in request.url.params else {})

    connector = _connector(**REFRESH)
    with mock_client(handler) as client:
        connector.poll(client, FeedCursor(), NOW)
        connector.poll(client, FeedCursor(), NOW)
    assert len(token_requests) == 1, "the access token is reused while valid"
    form = parse_qs(token_requests[0].content.decode())
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["1//refresh-1"]
    assert form["client_id"] == ["client-1.apps.googleusercontent.com"]
    assert {r.headers["Authorization"] for r in api_requests} == {"Bearer ya29.fresh"}
    assert {r.url.host for r in api_requests} == {"mybusiness.googleapis.com"}


@pytest.mark.usefixtures("_refresh_env")
def test_revoked_refresh_token_is_an_auth_error_naming_the_variables() -> None:
    body = fixture_bytes("googlebusiness", "token_invalid_grant_from_docs.json")
    handler = lambda request: httpx.Response(400, content=body)  # noqa: E731
    with (
        mock_client(handler) as client,
        pytest.raises(AuthError) as caught,
    ):
        _connector(**REFRESH).poll(client, FeedCursor(), NOW)
    message = str(caught.value)
    assert "invalid_grant" in message
    assert "GBP_REFRESH_TOKEN" in message and "GBP_CLIENT_ID" in message


def test_refresh_flow_needs_all_three_variables() -> None:
    with pytest.raises(ValueError, match="all of client_id_env"):
        GoogleBusinessOptions.model_validate(
            {"account": "1", "location": "2", "refresh_token_env": "X"}
        )


def test_google_times_with_nine_fraction_digits_and_the_translation_envelope() -> None:
    assert parse_time("2014-10-02T15:01:23.045123456Z") == datetime(
        2014, 10, 2, 15, 1, 23, 45123, tzinfo=UTC
    )
    assert parse_time("2014-10-02T15:01:23+05:30") == datetime(2014, 10, 2, 9, 31, 23, tzinfo=UTC)
    assert split_translation("Plain text") == ("Plain text", None)
