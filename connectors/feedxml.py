"""The one change this project makes to feedparser: parse with expat, without a dead import.

feedparser asks xml.sax for "drv_libxml2" (Python 2's libxml2 driver) before expat on every
parse; the import fails each time, after a search of sys.path under the import lock, which
32 polling threads queued on: 4 % of a first cycle's CPU (bench/poll_bench.py). Expat, which
it falls back to, is then also the parser on every machine, not only ours.

feedparser takes no parser list per call, only its module global `PREFERRED_XML_PARSERS`.
`use_expat` empties it when a feed is first parsed, never at import: importing a connector
changes nothing. pyproject.toml bounds feedparser to the versions this was read against,
and tests/connectors/test_feedxml.py fails when the name or its use moves.
"""

from __future__ import annotations

import feedparser.api


def use_expat() -> None:
    """Make feedparser go straight to expat (idempotent, cheap enough for every parse).

    A feedparser without the list (outside the pinned range) is left alone: it parses as
    before, only slower; the test says so first."""
    if getattr(feedparser.api, "PREFERRED_XML_PARSERS", None):
        feedparser.api.PREFERRED_XML_PARSERS = []
