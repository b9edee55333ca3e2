"""Recorded API answers as replies of the local test server, with their recorded headers."""

from __future__ import annotations

import json

from tests.connectors.conformance import fixture_bytes
from tests.support.http_server import Reply

# what connectors read from a recorded answer's headers; the rest (Content-Length of the
# original encoding, cookies, security headers) would not match the body served here
KEPT_HEADERS = {"link", "etag", "content-type"}


def recorded_reply(platform: str, name: str) -> Reply:
    """tests/fixtures/<platform>/<name>.json with the kept headers of <name>.headers.json."""
    headers = json.loads(fixture_bytes(platform, f"{name}.headers.json"))["headers"]
    kept = {
        k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS or "ratelimit" in k.lower()
    }
    return Reply(200, fixture_bytes(platform, f"{name}.json"), kept)
