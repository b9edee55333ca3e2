"""Conformance case for the instagram connector: a real comments page on one recorded media.

The /media list answer is the recorded media node 17846368219941692 (from the real /tags
page, an IG Media node) in the list envelope; its /comments answer is the real page of two
comments (default fields); /tags is the real tags page."""

import json

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

TAGS = fixture_bytes("instagram", "user_tags_tagged_medias_2021_pyfacebook.json")
COMMENTS = fixture_bytes("instagram", "media_comments_default_fields_p1_2020_pyfacebook.json")
MEDIA_NODE = next(m for m in json.loads(TAGS)["data"] if m["id"] == "17846368219941692")
MEDIA = json.dumps({"data": [MEDIA_NODE]}).encode()
EMPTY = b'{"data":[]}'


def _happy(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/media"):
        return httpx.Response(200, content=MEDIA)
    if path.endswith("/tags"):
        return httpx.Response(200, content=TAGS)
    # the recorded page has a paging.next: a second page would be the same page again, so
    # the case answers the `after` page with the last (empty) page
    if "after" in request.url.params:
        return httpx.Response(200, content=EMPTY)
    return httpx.Response(200, content=COMMENTS)


CASE = ConformanceCase(
    options={"ig_user_id": "17841406338772941"},
    happy=_happy,
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=5,
    env={"INSTAGRAM_ACCESS_TOKEN": "conformance-token"},
    cursor_key=lambda cursor: json.loads(cursor)["since"] or "",
)
