"""Conformance case for mastodon_stream: a live stream, its cases in test_mastodon_stream.py."""

import httpx

from tests.connectors.conformance import ConformanceCase

CASE = ConformanceCase(
    options={"stream": "hashtag", "tag": "hoot"},
    # never asked: a stream opens its own connection (tests/support/sse_server.py replays one)
    happy=lambda request: httpx.Response(500),
    empty=lambda request: httpx.Response(500),
    stream=True,
)
