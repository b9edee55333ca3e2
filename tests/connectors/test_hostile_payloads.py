"""Hostile answers to the issue-22 connectors: wrong types, future times, odd ids."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import FeedCursor
from connectors.sources.tripadvisor import TripadvisorConnector, TripadvisorOptions
from tests.connectors.conformance import fixture_bytes
from tests.support.mock_http import Recording, poll_with

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TA_PAGE = json.loads(fixture_bytes("tripadvisor", "location_reviews_page_from_docs.json"))


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIPADVISOR_API_KEY", "ta-secret-key-0123456789")


def _tripadvisor(page: Any, state: FeedCursor | None = None) -> Any:
    connector = TripadvisorConnector(
        TripadvisorOptions.model_validate({"location_id": "1234567"}),
        feed_name="acme-tripadvisor",
        identities=[],
    )
    answer = Recording(lambda request: httpx.Response(200, json=page))
    return poll_with(connector, answer, NOW, state)


@pytest.mark.parametrize(
    ("field", "value"),
    [("text", 123), ("text", ["<b>x</b>"]), ("title", {"a": 1}), ("url", 7)],
)
def test_tripadvisor_review_field_of_the_wrong_type_is_not_a_crash(field: str, value: Any) -> None:
    page = copy.deepcopy(TA_PAGE)
    page["data"][0][field] = value
    result = _tripadvisor(page)
    first = next(m for m in result.mentions if m.external_id == str(page["data"][0]["id"]))
    assert isinstance(first.text, str) and isinstance(first.url, str | None)
    assert len(result.mentions) == 4  # the other reviews are read as before


def test_tripadvisor_owner_response_text_of_the_wrong_type_is_not_a_crash() -> None:
    page = copy.deepcopy(TA_PAGE)
    page["data"][0]["owner_response"] = {"id": 9, "text": 5, "author": ["x"]}
    result = _tripadvisor(page)
    reply = next(r for r in result.brand_replies if r.in_reply_to == str(page["data"][0]["id"]))
    assert reply.text is None and reply.author is None


def test_tripadvisor_review_with_an_object_for_an_id_is_skipped() -> None:
    page = copy.deepcopy(TA_PAGE)
    page["data"][0]["id"] = {"x": 1}
    result = _tripadvisor(page)
    assert all(m.external_id.isdigit() for m in result.mentions)
    assert any("skipped" in w for w in result.warnings)


def test_tripadvisor_cursor_never_moves_past_now() -> None:
    # a review dated in 2999 must not hide every review published until then
    page = copy.deepcopy(TA_PAGE)
    page["data"][0]["published_date"] = "2999-01-01T00:00:00Z"
    result = _tripadvisor(page)
    assert result.state.cursor is not None
    assert datetime.fromisoformat(result.state.cursor) <= NOW
