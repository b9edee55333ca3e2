"""Conformance case for the googlebusiness connector: two review pages built from Google's docs."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE1 = fixture_bytes("googlebusiness", "reviews_list_page1_from_docs.json")
PAGE2 = fixture_bytes("googlebusiness", "reviews_list_page2_from_docs.json")


def _happy(request: httpx.Request) -> httpx.Response:
    body = PAGE2 if request.url.params.get("pageToken") else PAGE1
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


CASE = ConformanceCase(
    options={"account": "108494581129006735086", "location": "6394464039148850881"},
    happy=_happy,
    empty=lambda request: httpx.Response(200, json={}),
    min_mentions=4,
    env={"GOOGLE_BUSINESS_ACCESS_TOKEN": "conformance-token"},
)
