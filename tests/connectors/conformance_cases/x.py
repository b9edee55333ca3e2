"""Conformance case for the x connector: a real recent-search page (twarc2, #brexit, 2021)."""

import json

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

# the archive line is the API body plus twarc's own "__twarc" key, which the connector ignores
PAGE = fixture_bytes("x", "search_recent_brexit_full_expansions_2021-09-22_twarc2.jsonl")
EMPTY = json.dumps({"meta": {"result_count": 0}}).encode()

CASE = ConformanceCase(
    options={"query": "#brexit"},
    happy=lambda request: httpx.Response(200, content=PAGE),
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=33,
    env={"X_BEARER_TOKEN": "conformance-token"},
    # post ids are snowflakes of different lengths: compared as integers, never as text
    cursor_key=lambda cursor: int(json.loads(cursor)["since_id"]),
)
