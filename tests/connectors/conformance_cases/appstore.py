"""Conformance case for the appstore connector (RSS mode): a real 2020 Japanese feed page."""

import json

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes(
    "appstore", "customerreviews_jp_1404176564_page1_json_2020_no_entry_dates.json"
)
# What Apple answers for an app without reviews: the feed envelope with no `entry`.
EMPTY = json.dumps(
    {"feed": {"author": {"name": {"label": "iTunes Store"}}, "updated": {"label": "x"}}}
).encode()

CASE = ConformanceCase(
    options={"app_id": "1404176564", "countries": ["jp"], "pages": 2},
    happy=lambda request: httpx.Response(200, content=PAGE),
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=50,
    cursor_key=lambda cursor: sorted((k, int(v)) for k, v in json.loads(cursor).items()),
)
