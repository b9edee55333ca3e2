"""Conformance case for the youtube connector: a real commentThreads page of a video."""

import json

import httpx

from tests.connectors.conformance import ConformanceCase, fixture_bytes

PAGE = fixture_bytes("youtube", "commentThreads_videoId_page1_2019.json")
EMPTY = json.dumps(
    {
        "kind": "youtube#commentThreadListResponse",
        "etag": '"j6xRRd8dTPVVptg711_CSPADRfg/mj64hlcyhnGGcJWAccdWisvf8MY"',
        "pageInfo": {"totalResults": 0, "resultsPerPage": 100},
        "items": [],
    }
).encode()

CASE = ConformanceCase(
    options={"video_id": "F1UP7wRCPH8"},
    happy=lambda request: httpx.Response(200, content=PAGE),
    empty=lambda request: httpx.Response(200, content=EMPTY),
    min_mentions=5,
    env={"YOUTUBE_API_KEY": "conformance-key"},
    cursor_key=lambda cursor: json.loads(cursor)["since"],
)
