"""The trustpilot connector over review pages built from Trustpilot's documentation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors import AuthError, BrandIdentity, FeedCursor
from connectors.sources.trustpilot import TrustpilotConnector, TrustpilotOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, mock_client, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BUSINESS_UNIT = "507f191e810c19729de860ea"
PAGE = json.loads(fixture_bytes("trustpilot", "business_unit_reviews_page1_from_docs.json"))
DOCS_SAMPLE = json.loads(
    fixture_bytes("trustpilot", "business_unit_reviews_DOCS_PLACEHOLDER_EXAMPLE_companyReply.json")
)


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTPILOT_API_KEY", "test-key")


def _connector(**options: Any) -> TrustpilotConnector:
    return TrustpilotConnector(
        TrustpilotOptions.model_validate({"business_unit_id": BUSINESS_UNIT, **options}),
        feed_name="acme-trustpilot",
        identities=[BrandIdentity("trustpilot", handle="Acme")],
    )


def _pages(pages: dict[str, Any]) -> Recording:
    """Answers ?page=N with pages[N]; a page not given is empty."""
    empty: dict[str, list[Any]] = {"links": [], "reviews": []}
    return Recording(
        lambda request: httpx.Response(200, json=pages.get(request.url.params["page"], empty))
    )


def test_first_poll_sends_the_key_header_and_backfills_thirty_days() -> None:
    api = _pages({"1": PAGE})
    result = poll_with(_connector(), api, NOW)
    assert len(api.requests) == 1, "a page of 6 < perPage 100 is the last page"
    request = api.requests[0]
    assert request.url.path == f"/v1/business-units/{BUSINESS_UNIT}/reviews"
    assert dict(request.url.params) == {"orderBy": "createdat.desc", "perPage": "100", "page": "1"}
    assert request.headers["apikey"] == "test-key"
    assert "apikey" not in request.url.params, "the key stays out of the URL"
    # the 2026-10-01 review is older than now - 30 days
    assert [m.external_id for m in result.mentions] == [
        "6740a1b2c3d4e5f601234567",
        "6740a1b2c3d4e5f601234568",
        "6740a1b2c3d4e5f601234569",
        "6740a1b2c3d4e5f60123456a",
        "6740a1b2c3d4e5f60123456b",
    ]
    # the newest change seen is review ...568's updatedAt
    assert result.state.cursor == "2026-11-22T10:30:00+00:00"


def test_one_star_danish_review_without_a_reply() -> None:
    result = poll_with(_connector(), _pages({"1": PAGE}), NOW)
    danish = result.mentions[0]
    assert danish.rating == 1.0
    assert danish.language == "da"
    assert danish.title == "Pakken kom aldrig frem"
    assert danish.text.startswith("Jeg har ventet tre uger på min pakke")
    assert danish.author == "Mette Jensen"
    assert danish.author_id == "5f1e2d3c4b5a697887766554"
    assert danish.created_at == datetime(2026, 11, 22, 8, 15, tzinfo=UTC)
    assert danish.url == "https://www.trustpilot.com/reviews/6740a1b2c3d4e5f601234567"
    assert "6740a1b2c3d4e5f601234567" not in {r.in_reply_to for r in result.brand_replies}
    # companyReply: null is no reply either
    assert "6740a1b2c3d4e5f60123456a" not in {r.in_reply_to for r in result.brand_replies}


def test_company_reply_is_a_brand_reply_at_its_creation_time() -> None:
    result = poll_with(_connector(), _pages({"1": PAGE}), NOW)
    replies = {r.in_reply_to: r for r in result.brand_replies}
    assert set(replies) == {
        "6740a1b2c3d4e5f601234568",
        "6740a1b2c3d4e5f601234569",
        "6740a1b2c3d4e5f60123456b",
    }
    reply = replies["6740a1b2c3d4e5f60123456b"]
    mention = next(m for m in result.mentions if m.external_id == "6740a1b2c3d4e5f60123456b")
    assert reply.external_id == "6740a1b2c3d4e5f60123456b:reply"
    assert reply.created_at == datetime(2026, 11, 18, 9, 12, 30, tzinfo=UTC)
    assert reply.created_at - mention.created_at == timedelta(hours=1, minutes=27, seconds=30)
    assert reply.seen_modified_only is False, "Trustpilot gives the reply's creation time"
    assert (reply.author, reply.author_id) == ("Acme", BUSINESS_UNIT)
    assert reply.text == "Thanks for the feedback, we're working on faster delivery."
    assert reply.bot is False
    assert mention.edited_after_reply is False


def test_zoneless_reply_times_are_utc_and_a_later_review_edit_is_flagged() -> None:
    result = poll_with(_connector(), _pages({"1": PAGE}), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to.endswith("568"))
    # "2026-11-21T21:40:00" has no zone: read as UTC
    assert reply.created_at == datetime(2026, 11, 21, 21, 40, tzinfo=UTC)
    edited = next(m for m in result.mentions if m.external_id.endswith("568"))
    # updatedAt 2026-11-22T10:30:00Z is after the reply's 2026-11-21T21:40:00
    assert edited.edited_after_reply is True


def test_missing_reply_creation_time_falls_back_to_updated_at_as_modified_only() -> None:
    result = poll_with(_connector(), _pages({"1": PAGE}), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to.endswith("569"))
    assert reply.created_at == datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    assert reply.seen_modified_only is True
    mention = next(m for m in result.mentions if m.external_id.endswith("569"))
    assert mention.text == "Quick answer from the support team & a friendly tone."


def test_a_reply_with_no_time_at_all_is_recorded_at_the_poll_time_with_a_warning() -> None:
    page = copy.deepcopy(PAGE)
    page["reviews"][2]["companyReply"] = {"text": "Thank you!"}
    result = poll_with(_connector(), _pages({"1": page}), NOW)
    reply = next(r for r in result.brand_replies if r.in_reply_to.endswith("569"))
    assert (reply.created_at, reply.seen_modified_only) == (NOW, True)
    assert any("6740a1b2c3d4e5f601234569" in w and "no time" in w for w in result.warnings)


def test_recorded_docs_sample_placeholders_are_tolerated() -> None:
    result = poll_with(_connector(backfill="5000d"), _pages({"1": DOCS_SAMPLE}), NOW)
    [mention] = result.mentions
    assert mention.external_id == "1"
    assert mention.rating is None, "stars 0 is outside 1-5"
    assert (mention.text, mention.title, mention.language) == ("", None, None)
    [reply] = result.brand_replies
    assert reply.created_at == datetime(2013, 9, 7, 13, 37, tzinfo=UTC)
    assert reply.author == "Trustpilot"
    # the placeholder review (2023) is "updated" long after the placeholder reply (2013)
    assert mention.edited_after_reply is True


def test_later_poll_rereads_the_reply_window_but_returns_only_changed_reviews() -> None:
    with mock_client(_pages({"1": PAGE})) as client:
        first = _connector().poll(client, FeedCursor(), NOW)
        second = _connector().poll(client, first.state, NOW + timedelta(minutes=15))
    # only the review whose change time equals the cursor comes back (ties are re-sent)
    assert [m.external_id for m in second.mentions] == ["6740a1b2c3d4e5f601234568"]
    assert len(second.brand_replies) == 3, "replies of the last 14 days are looked at again"
    assert second.state.cursor == first.state.cursor


def test_full_pages_are_followed_up_to_max_pages_with_a_warning() -> None:
    template = PAGE["reviews"][4]
    full = []
    for n in range(100):
        review = copy.deepcopy(template)
        review["id"] = f"generated{n:03d}"
        review["createdAt"] = (NOW - timedelta(minutes=n + 1)).isoformat()
        review["updatedAt"] = review["createdAt"]
        full.append(review)
    handler = Recording(lambda request: httpx.Response(200, json={"links": [], "reviews": full}))

    with mock_client(handler) as client:
        result = _connector(max_pages=2).poll(client, FeedCursor(), NOW)
    assert [r.url.params["page"] for r in handler.requests] == ["1", "2"]
    assert len(result.mentions) == 100, "the same ids on page 2 are deduplicated"
    assert any("max_pages" in w for w in result.warnings)


def test_missing_api_key_says_which_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSTPILOT_API_KEY")
    with mock_client(_pages({"1": PAGE})) as client, pytest.raises(AuthError) as caught:
        _connector().poll(client, FeedCursor(), NOW)
    assert "TRUSTPILOT_API_KEY" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_api_key_is_an_auth_error_naming_the_variable(status: int) -> None:
    handler = lambda request: httpx.Response(status)  # noqa: E731
    with (
        mock_client(handler) as client,
        pytest.raises(AuthError) as caught,
    ):
        _connector(api_key_env="TRUSTPILOT_API_KEY").poll(client, FeedCursor(), NOW)
    message = str(caught.value)
    assert "TRUSTPILOT_API_KEY" in message and f"({status})" in message


def test_business_unit_id_must_not_be_a_domain() -> None:
    with pytest.raises(ValueError, match="business unit id"):
        TrustpilotOptions.model_validate({"business_unit_id": "acme.example"})
