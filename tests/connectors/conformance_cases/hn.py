"""Conformance case for the hn connector: a recorded Algolia search page and an empty one."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes("hn", "algolia_search_query_relevance_2024.json")
EMPTY = b'{"hits": [], "nbHits": 0, "page": 0, "nbPages": 0, "hitsPerPage": 100}'

CASE = ConformanceCase(
    options={"query": "query", "backfill": "36500d"},
    happy=lambda request: httpx.Response(200, content=PAGE),
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=20,
    cursor_key=int,
)
