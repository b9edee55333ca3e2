"""Conformance case for the rss connector: a real Atom feed, and an empty real-shaped one."""

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

FEED = fixture_bytes("rss", "heise_developer_atom_2016.atom")
EMPTY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<feed xmlns="http://www.w3.org/2005/Atom"><title>empty</title>'
    b"<id>urn:empty</id><updated>2016-02-01T00:00:00Z</updated></feed>"
)

CASE = ConformanceCase(
    options={"url": "https://feeds.example.test/atom"},
    happy=lambda request: httpx.Response(
        200, content=FEED, headers={"ETag": '"v1"', "Content-Type": "application/atom+xml"}
    ),
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=10,
)
