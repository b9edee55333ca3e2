"""Conformance case for the googleplay connector: reviews.list built from Google's docs."""

from datetime import datetime

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes(
    "googleplay", "reviews_list_page1_edited_nl_1star_reply_no_time_from_docs.json"
)

CASE = ConformanceCase(
    options={"package_name": "com.example.app", "access_token_env": "CONFORMANCE_PLAY_TOKEN"},
    happy=lambda request: httpx.Response(200, content=PAGE),
    # Google answers an app with no recent reviews with an empty object.
    empty=lambda request: httpx.Response(200, json={}),
    min_mentions=3,
    env={"CONFORMANCE_PLAY_TOKEN": "ya29.conformance-test-token"},
    cursor_key=datetime.fromisoformat,
)
