"""Conformance case for the mastodon connector: a recorded tag timeline, and an empty one."""

import json

import httpx

from connectors.sources.mastodon import id_key
from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes("mastodon", "timeline_tag_hoot_local_instance.json")
HEADERS = json.loads(fixture_bytes("mastodon", "timeline_tag_hoot_local_instance.headers.json"))[
    "headers"
]
# the recorded answer's own headers (Link, ETag, X-RateLimit-*), minus transport ones
KEPT = {
    k: v for k, v in HEADERS.items() if k in {"link", "etag", "content-type"} or "ratelimit" in k
}

CASE = ConformanceCase(
    # the recorded statuses are from 2026-08; the conformance clock reads 2026-11
    options={"tag": "hoot", "backfill": "365d"},
    happy=lambda request: httpx.Response(200, content=PAGE, headers=KEPT),
    empty=lambda request: httpx.Response(200, json=[]),
    min_mentions=1,
    cursor_key=id_key,
)
