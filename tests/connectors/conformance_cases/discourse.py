"""Conformance case for the discourse connector: a real /posts.json page of a dev forum."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

LATEST = fixture_bytes("discourse", "posts_latest_2018_topic8_user_posts_then_system_staff.json")


def _happy(request: httpx.Request) -> httpx.Response:
    if "before" in request.url.params:
        return httpx.Response(200, json={"latest_posts": []})  # older pages were not recorded
    return httpx.Response(200, content=LATEST)


CASE = ConformanceCase(
    options={"latest": True, "backfill": "3650d"},
    happy=_happy,
    empty=lambda request: httpx.Response(200, json={"latest_posts": []}),
    min_mentions=9,
    cursor_key=int,
)
