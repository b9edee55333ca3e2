"""Conformance case for the facebook connector: the real stream page of a Page post's comments."""

import json

import httpx

from tests.connectors.conformance import ConformanceCase
from tests.connectors.test_facebook import PAGE_ID, Graph, ratings_page

EMPTY = {"data": [], "paging": {"cursors": {"before": "b", "after": "a"}}}


def _happy(request: httpx.Request) -> httpx.Response:
    """/feed: the recorded post; its /comments: the recorded stream page; /ratings: the
    recorded ratings (tests/connectors/test_facebook.py says how each page is put together)."""
    return Graph(ratings=ratings_page())(request)


CASE = ConformanceCase(
    options={
        "page_id": PAGE_ID,
        "backfill": "36500d",
        "watch": ["comments", "visitor_posts", "ratings"],
    },
    happy=_happy,
    empty=lambda request: httpx.Response(200, json=EMPTY),
    min_mentions=11,  # 7 customer comments and 4 ratings
    env={"FACEBOOK_PAGE_TOKEN": "conformance-token"},
    cursor_key=lambda cursor: json.loads(cursor)["since"],
)
