"""TTFR end to end for Tripadvisor: a review and its owner response through the real Pipeline.

No recorded Content API payload exists: the review list is built from Tripadvisor's documented
response schema (tests/fixtures/tripadvisor/SOURCES.md), so these TTFRs are worked out on
docs-shaped data, not on a real recording.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.connectors.conformance import fixture_bytes
from tests.test_ttfr_recorded_threads import make_config, pipeline, stored

PAGE = fixture_bytes("tripadvisor", "location_reviews_page_from_docs.json")


def handler(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/api/v1/location/1234567/reviews"
    return httpx.Response(200, content=PAGE)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIPADVISOR_API_KEY", "ttfr-key")


def test_owner_response_gives_ttfr_48289_s(engine: Engine) -> None:
    """location_reviews_page_from_docs.json, AcmeGuestRelations as the brand.

    WanderingKeith's review 987654321: published_date 2026-11-22T18:40:11Z (a Sunday).
    owner_response published_date 2026-11-23T08:05:00Z (Monday, before opening).
    TTFR = 5 h 19 min 49 s (to midnight) + 8 h 5 min = 19189 + 29100 = 48289 s.
    No opening time (Mon-Fri 09-17 UTC) lies between them, so the business TTFR is the
    calendar time (zero would flatter the team): 48289 s. The time is exact.
    """
    config = make_config(
        {"type": "tripadvisor", "location_id": "1234567"},
        [{"platform": "tripadvisor", "handle": "AcmeGuestRelations"}],
    )
    report = pipeline(config, engine, handler).poll(
        "acme", now=datetime(2026, 11, 23, 12, tzinfo=UTC)
    )
    assert report.ok, report.error

    mention = stored(engine, "987654321")
    assert mention.author == "WanderingKeith"
    assert mention.created_at == datetime(2026, 11, 22, 18, 40, 11, tzinfo=UTC)
    assert mention.status == "answered"
    assert mention.first_response_at == datetime(2026, 11, 23, 8, 5, tzinfo=UTC)
    assert mention.first_response_by == "AcmeGuestRelations"
    assert mention.ttfr_seconds == 48289
    assert mention.ttfr_business_seconds == 48289


def test_date_only_owner_response_gives_an_upper_bound_ttfr_100592_s(engine: Engine) -> None:
    """pbrennan's review 987654319: published_date 2026-11-19T20:03:27Z (a Thursday).

    owner_response published_date "2026-11-20" (a date alone): recorded at the end of that
    day, 2026-11-20T23:59:59Z, seen_modified_only. TTFR = 3 h 56 min 32 s (to 23:59:59 on
    Thursday) + 1 s + 24 h - 1 s = 14192 + 86400 = 100592 s, an upper bound.
    Business (Mon-Fri 09-17 UTC): Thursday after 20:03 is closed; Friday 09:00-17:00 is
    28800 s.
    """
    config = make_config(
        {"type": "tripadvisor", "location_id": "1234567"},
        [{"platform": "tripadvisor", "handle": "AcmeFrontOffice"}],
    )
    report = pipeline(config, engine, handler).poll(
        "acme", now=datetime(2026, 11, 23, 12, tzinfo=UTC)
    )
    assert report.ok, report.error

    mention = stored(engine, "987654319")
    assert mention.rating == 1.0
    assert mention.status == "answered"
    assert mention.first_response_at == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
    assert mention.ttfr_seconds == 100592
    assert mention.ttfr_business_seconds == 28800
