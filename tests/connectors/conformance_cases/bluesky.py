"""Conformance case for the bluesky connector: a recorded searchPosts page, and an empty one."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes("bluesky", "searchPosts_single_hit_2023.json")

CASE = ConformanceCase(
    # the recorded post is from 2023-04; the conformance clock reads 2026-11
    options={"query": "fone", "token_env": "BSKY_TEST_TOKEN", "backfill": "3650d"},
    happy=lambda request: httpx.Response(200, content=PAGE),
    empty=lambda request: httpx.Response(200, json={"posts": []}),
    env={"BSKY_TEST_TOKEN": "test-access-jwt"},
    min_mentions=1,
)
