"""Conformance case for the bluesky_stream feed: a live stream, so only the common checks of
the type apply; tests/connectors/test_bluesky_stream.py replays the recorded Jetstream."""

import httpx

from tests.connectors.conformance import ConformanceCase


def _not_polled(request: httpx.Request) -> httpx.Response:
    raise AssertionError("a stream feed reads a websocket, not HTTP answers")


CASE = ConformanceCase(
    options={"keywords": ["acme"], "fill_feed": "acme-bsky-search"},
    happy=_not_polled,
    empty=_not_polled,
    stream=True,
)
