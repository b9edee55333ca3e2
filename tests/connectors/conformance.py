"""The shape of a conformance case; each connector type supplies one in conformance_cases/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

Handler = Callable[[httpx.Request], httpx.Response]


def fixture_bytes(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


@dataclass
class ConformanceCase:
    """How to drive one connector through the common cases.

    options: the feed's type-specific keys (as in the TOML file).
    happy: answers every request of a poll with recorded payloads (a page with mentions).
    empty: answers every request with a valid but empty page.
    min_mentions: how many mentions the happy page must yield at least.
    http: False for connectors that read local files (the HTTP cases are skipped).
    stream: True for a live stream feed (connectors/streams.py): the cases that poll through
        HTTP handlers are skipped; its own tests replay a recorded stream from a local server.
    env: environment variables the connector needs (fake credentials).
    prepare: optional hook given the tmp path, returning option overrides (local files).
    cursor_key: orders two cursors of this connector (default: as text).
    """

    options: dict[str, Any]
    happy: Handler
    empty: Handler
    min_mentions: int = 1
    http: bool = True
    stream: bool = False
    env: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Path], dict[str, Any]] | None = None
    malformed_body: bytes = b"{this is not json <html>"
    # orders cursors so "moves forward" can be checked: ISO times sort as text, offsets as ints
    cursor_key: Callable[[str], Any] = str
