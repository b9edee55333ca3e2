"""Conformance case for the trustpilot connector: a review page built from Trustpilot's docs."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes("trustpilot", "business_unit_reviews_page1_from_docs.json")


def _happy(request: httpx.Request) -> httpx.Response:
    if request.url.params.get("page") == "1":
        return httpx.Response(200, content=PAGE, headers={"Content-Type": "application/json"})
    return httpx.Response(200, json={"links": [], "reviews": []})


CASE = ConformanceCase(
    options={"business_unit_id": "507f191e810c19729de860ea"},
    happy=_happy,
    empty=lambda request: httpx.Response(200, json={"links": [], "reviews": []}),
    min_mentions=5,
    env={"TRUSTPILOT_API_KEY": "conformance-key"},
)
