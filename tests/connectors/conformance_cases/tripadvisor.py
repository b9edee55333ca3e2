"""Conformance case for the tripadvisor connector: a review list built from the Content API docs."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes("tripadvisor", "location_reviews_page_from_docs.json")

CASE = ConformanceCase(
    options={"location_id": "1234567"},
    happy=lambda request: httpx.Response(
        200, content=PAGE, headers={"Content-Type": "application/json"}
    ),
    empty=lambda request: httpx.Response(200, json={"data": []}),
    min_mentions=4,  # the fifth review is older than the 30-day backfill
    env={"TRIPADVISOR_API_KEY": "conformance-key"},
)
