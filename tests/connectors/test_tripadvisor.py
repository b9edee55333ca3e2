"""The tripadvisor connector over review lists built from the Content API's documentation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor, MalformedResponse, RateLimited
from connectors.errors import NotFoundError, TransientError
from connectors.sources.tripadvisor import TripadvisorConnector, TripadvisorOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
KEY = "ta-secret-key-0123456789"
PAGE = json.loads(fixture_bytes("tripadvisor", "location_reviews_page_from_docs.json"))
SCHEMA = fixture_bytes("tripadvisor", "location_reviews_SCHEMA_PLACEHOLDER_from_docs.json")


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIPADVISOR_API_KEY", KEY)


def _connector(
    identities: list[BrandIdentity] | None = None, **options: Any
) -> TripadvisorConnector:
    return TripadvisorConnector(
        TripadvisorOptions.model_validate({"location_id": "1234567", **options}),
        feed_name="acme-tripadvisor",
        identities=identities or [],
    )


def _answer(page: Any, status: int = 200, **headers: str) -> Recording:
    return Recording(lambda request: httpx.Response(status, json=page, headers=headers))


def test_first_poll_sends_key_and_language_and_backfills_thirty_days() -> None:
    api = _answer(PAGE)
    result = poll_with(_connector(language="fr"), api, NOW)
    [request] = api.requests
    assert request.url.path == "/api/v1/location/1234567/reviews"
    assert dict(request.url.params) == {"key": KEY, "language": "fr"}
    # the 2026-10-01 review is older than now - 30 days: not a mention, its reply still read
    assert [m.external_id for m in result.mentions] == [
        "987654321",
        "987654320",
        "987654319",
        "987654318",
    ]
    assert result.state.cursor == "2026-11-22T18:40:11+00:00"
    assert result.warnings == []


def test_review_fields_map_like_the_other_review_sites() -> None:
    result = poll_with(_connector(), _answer(PAGE), NOW)
    keith = result.mentions[0]
    assert keith.platform == "tripadvisor"
    assert keith.rating == 2.0
    assert keith.title == "Noisy room, slow check-in"
    assert keith.text.startswith("We waited 40 minutes to check in")
    assert keith.author == "WanderingKeith"
    assert keith.language == "en"
    assert keith.created_at == datetime(2026, 11, 22, 18, 40, 11, tzinfo=UTC)
    assert keith.url is not None and "-r987654321-" in keith.url
    assert keith.extra["trip_type"] == "Couples"
    assert keith.extra["travel_date"] == "2026-11"
    assert keith.extra["subratings"] == {"RATE_VALUE": 2, "RATE_SLEEP": 1, "RATE_SERVICE": 2}
    # "2026-11-21T09:12:45-0500": an offset without a colon
    assert result.mentions[1].created_at == datetime(2026, 11, 21, 14, 12, 45, tzinfo=UTC)
    assert result.mentions[3].extra["is_machine_translated"] is True


def test_a_rating_outside_one_to_five_is_no_rating() -> None:
    page = copy.deepcopy(PAGE)
    page["data"][0]["rating"] = 0
    result = poll_with(_connector(), _answer(page), NOW)
    assert result.mentions[0].rating is None


def test_owner_response_with_a_time_is_an_exact_brand_reply() -> None:
    identity = BrandIdentity("tripadvisor", handle="AcmeGuestRelations")
    result = poll_with(_connector([identity]), _answer(PAGE), NOW)
    replies = {r.in_reply_to: r for r in result.brand_replies}
    assert set(replies) == {"987654321", "987654319", "987654317"}
    reply = replies["987654321"]
    assert reply.external_id == "987654321:owner_response"
    assert reply.created_at == datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
    assert reply.author == "AcmeGuestRelations"
    assert reply.text is not None and reply.text.startswith("Dear WanderingKeith")
    assert not reply.seen_modified_only and not reply.bot
    # the review outside the backfill is no mention, but its response is still the brand's
    assert replies["987654317"].created_at == datetime(2026, 10, 2, 9, tzinfo=UTC)


def test_owner_response_with_a_date_only_is_modified_only_at_the_end_of_that_day() -> None:
    result = poll_with(_connector(), _answer(PAGE), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "987654319")
    assert reply.seen_modified_only
    assert reply.created_at == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)


def test_a_date_only_response_is_never_before_its_review_nor_after_now() -> None:
    page = copy.deepcopy(PAGE)
    page["data"][2]["owner_response"]["published_date"] = "2026-11-23"
    result = poll_with(_connector(), _answer(page), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "987654319")
    assert reply.created_at == NOW
    page["data"][2]["owner_response"]["published_date"] = "2026-11-18"  # a day before the review
    result = poll_with(_connector(), _answer(page), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "987654319")
    assert reply.created_at == datetime(2026, 11, 19, 20, 3, 27, tzinfo=UTC)


def test_a_response_without_a_readable_time_is_recorded_at_the_poll_with_a_warning() -> None:
    page = copy.deepcopy(PAGE)
    del page["data"][0]["owner_response"]["published_date"]
    result = poll_with(_connector(), _answer(page), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "987654321")
    assert reply.created_at == NOW and reply.seen_modified_only
    assert any("owner_response has no readable published_date" in w for w in result.warnings)


def test_a_bot_identity_marks_the_owner_response_as_bot() -> None:
    identity = BrandIdentity("tripadvisor", handle="acmeguestrelations", bot=True)
    result = poll_with(_connector([identity]), _answer(PAGE), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to == "987654321")
    assert reply.bot


def test_second_poll_from_the_cursor_repeats_only_the_review_at_the_cursor() -> None:
    first = poll_with(_connector(), _answer(PAGE), NOW)
    second = poll_with(_connector(), _answer(PAGE), NOW, first.state)
    assert [m.external_id for m in second.mentions] == ["987654321"]
    assert second.state == first.state
    assert second.warnings == [], "the review at the cursor is still returned: no gap"


def test_possible_gap_is_warned_when_no_review_reaches_back_to_the_cursor() -> None:
    # the last poll saw a review of 2026-11-17; now all five returned are newer
    page = copy.deepcopy(PAGE)
    page["data"][4]["published_date"] = "2026-11-18T00:00:00Z"
    state = FeedCursor(cursor="2026-11-17T12:00:00+00:00")
    result = poll_with(_connector(), _answer(page), NOW, state)
    [warning] = result.warnings
    assert warning.startswith("possible gap: none of the 5 reviews")
    assert len(result.mentions) == 5


def test_config_warns_when_the_interval_lets_reviews_out_of_the_window() -> None:
    options = TripadvisorOptions(location_id="1234567")
    assert TripadvisorConnector.config_warnings(options, 900) == []
    [warning] = TripadvisorConnector.config_warnings(options, 4 * 3600)
    assert "only the 5 most recent reviews" in warning


def test_location_id_may_be_pasted_from_a_url_but_must_be_numeric() -> None:
    assert TripadvisorOptions(location_id="d1234567").location_id == "1234567"
    with pytest.raises(ValueError, match="numeric location id"):
        TripadvisorOptions(location_id="Hotel_Acme")


def test_429_per_second_waits_a_second_and_a_used_budget_waits_longer() -> None:
    burst = _answer({"message": "Too Many Requests"}, 429)
    with mock_client(burst) as client, pytest.raises(RateLimited) as caught:
        _connector().poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 1.0
    budget = _answer({"message": "Limit Exceeded"}, 429)
    with mock_client(budget) as client, pytest.raises(RateLimited) as caught:
        _connector().poll(client, FeedCursor(), NOW)
    assert caught.value.retry_after == 3600.0
    assert "daily call budget" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_an_auth_error_naming_the_env_var_and_the_restriction(
    status: int,
) -> None:
    body = {
        "message": f"User is not authorized to access this resource with an explicit deny {KEY}"
    }
    with mock_client(_answer(body, status)) as client, pytest.raises(AuthError) as caught:
        _connector().poll(client, FeedCursor(), NOW)
    text = str(caught.value)
    assert "TRIPADVISOR_API_KEY" in text and "IP restriction" in text
    assert "explicit deny" in text
    assert KEY not in text


def test_missing_key_says_where_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIPADVISOR_API_KEY")
    with mock_client(_answer(PAGE)) as client, pytest.raises(AuthError) as caught:
        _connector().poll(client, FeedCursor(), NOW)
    assert "TRIPADVISOR_API_KEY" in str(caught.value)
    assert "tripadvisor.com/developers" in str(caught.value)


def test_error_texts_never_carry_the_key_in_the_query() -> None:
    """The key travels in the URL: a 404, a 400 and a network error must not show it."""
    for status in (404, 400):
        with mock_client(_answer({}, status)) as client, pytest.raises(MalformedResponse) as caught:
            _connector().poll(client, FeedCursor(), NOW)
        if status == 404:
            assert isinstance(caught.value, NotFoundError)
        assert KEY not in str(caught.value) and "/location/1234567/reviews" in str(caught.value)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    with mock_client(refuse) as client, pytest.raises(TransientError) as transient:
        _connector().poll(client, FeedCursor(), NOW)
    assert KEY not in str(transient.value)


def test_the_documented_schema_placeholder_is_refused_by_its_error_object() -> None:
    answer = _answer(json.loads(SCHEMA))
    with mock_client(answer) as client, pytest.raises(MalformedResponse, match="an error"):
        _connector().poll(client, FeedCursor(), NOW)


def test_a_review_without_a_readable_time_is_skipped_with_a_warning() -> None:
    page = copy.deepcopy(PAGE)
    page["data"][1]["published_date"] = "string"
    result = poll_with(_connector(), _answer(page), NOW)
    assert "987654320" not in {m.external_id for m in result.mentions}
    assert any("987654320" in w and "skipped" in w for w in result.warnings)


def test_a_body_without_a_data_list_is_malformed() -> None:
    with mock_client(_answer({"reviews": []})) as client, pytest.raises(MalformedResponse):
        _connector().poll(client, FeedCursor(), NOW)
