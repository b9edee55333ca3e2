"""connectors/feedxml.py: the one feedparser default we change, when, and that it still exists."""

from __future__ import annotations

import inspect
import subprocess
import sys

import feedparser.api

FRESH = [sys.executable, "-c"]


def _in_a_fresh_process(code: str) -> str:
    done = subprocess.run([*FRESH, code], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_importing_the_connectors_changes_no_feedparser_default() -> None:
    # rss.py emptied the list at import: every program importing the package was changed
    shown = _in_a_fresh_process(
        "import feedparser.api, connectors.sources.rss, connectors.registry\n"
        "print(feedparser.api.PREFERRED_XML_PARSERS)"
    )
    assert shown == "['drv_libxml2']"


def test_the_setting_is_where_feedparser_reads_it_on_every_parse() -> None:
    # outside pyproject's bound for feedparser this fails first: read its parse again
    shown = _in_a_fresh_process(
        "import feedparser.api\nprint(feedparser.api.PREFERRED_XML_PARSERS)"
    )
    assert shown == "['drv_libxml2']", "feedparser's default parser list moved or changed"
    assert "xml.sax.make_parser(PREFERRED_XML_PARSERS)" in inspect.getsource(feedparser.api)


def test_the_first_parse_makes_it_expat_and_later_ones_leave_it_so() -> None:
    shown = _in_a_fresh_process(
        "import feedparser.api\n"
        "from connectors import feedxml\n"
        "feedxml.use_expat(); feedxml.use_expat()\n"
        "print(feedparser.api.PREFERRED_XML_PARSERS)"
    )
    assert shown == "[]"
