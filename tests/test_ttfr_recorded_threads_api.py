"""TTFR end to end for Threads (Meta): mentions and brand replies through the real Pipeline.

(tests/test_ttfr_recorded_threads.py is about conversation threads of other platforms.)
No recorded Threads API payload exists: the search, the brand's replies and the
conversation are built from Meta's Threads docs (tests/fixtures/threads/SOURCES.md), so
these TTFRs are worked out on docs-shaped data, not on a real recording.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.connectors.conformance import fixture_bytes
from tests.test_ttfr_recorded_threads import make_config, pipeline, stored

PAGES = {
    "/keyword_search": "keyword_search_recent_acme_from_docs.json",
    "/me/replies": "user_replies_acme_from_docs.json",
    "/me/threads": "user_threads_acme_from_docs.json",
    "/18000000000000200/conversation": "conversation_acme_thread_from_docs.json",
}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path.removeprefix("/v1.0")
    return httpx.Response(200, content=fixture_bytes("threads", PAGES[path]))


@pytest.fixture
def report_engine(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """One poll of a feed with a keyword search and the brand's threads, acme the brand and
    acme_helpbot its auto-reply bot."""
    monkeypatch.setenv("THREADS_ACCESS_TOKEN", "ttfr-token")
    config = make_config(
        {"type": "threads", "query": "acme", "backfill": "7d"},
        [
            {"platform": "threads", "handle": "acme"},
            {"platform": "threads", "handle": "acme_helpbot", "bot": True},
        ],
    )
    report = pipeline(config, engine, handler).poll("acme", now=NOW)
    assert report.ok, report.error
    return engine


def test_keyword_search_mention_answered_in_the_brands_replies_gives_ttfr_1662_s(
    report_engine: Engine,
) -> None:
    """jamie.runs's 18000000000000001: timestamp 2026-11-23T09:12:30+0000 (a Monday).

    acme's 18000000000000101 (in GET /me/replies), replied_to = that post:
    2026-11-23T09:40:12+0000. TTFR = 27 min 42 s = 1662 s, all inside Monday 09-17 UTC, so
    the business TTFR is 1662 s too.
    """
    mention = stored(report_engine, "18000000000000001")
    assert mention.author == "jamie.runs"
    assert mention.status == "answered"
    assert mention.first_response_at == datetime(2026, 11, 23, 9, 40, 12, tzinfo=UTC)
    assert mention.first_response_by == "acme"
    assert mention.ttfr_seconds == 1662
    assert mention.ttfr_business_seconds == 1662


def test_a_bot_reply_does_not_stop_the_clock_ttfr_11780_s(report_engine: Engine) -> None:
    """lee_brews's 18000000000000203 in the brand's thread: 2026-11-23T06:58:40+0000.

    acme_helpbot (a bot identity) replied to it at 07:00:05: not counted. acme's
    18000000000000206 (is_reply_owned_by_me, replied_to = lee's reply) at 10:15:00.
    TTFR = 3 h 16 min 20 s = 11780 s. Business (Mon 09-17 UTC): 09:00 -> 10:15 = 4500 s.
    """
    mention = stored(report_engine, "18000000000000203")
    assert mention.status == "answered"
    assert mention.first_response_at == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert mention.first_response_by == "acme"
    assert mention.ttfr_seconds == 11780
    assert mention.ttfr_business_seconds == 4500


def test_a_reply_to_the_same_root_is_not_an_answer(report_engine: Engine) -> None:
    """dana_k's 18000000000000004 replies to 17999999999999990; acme replied to that root
    (18000000000000102, same root_post, replied_to the root), not to dana_k: still open."""
    mention = stored(report_engine, "18000000000000004")
    assert mention.status == "open"
    assert mention.first_response_at is None


def test_hidden_reply_is_not_stored(report_engine: Engine) -> None:
    """troll_account's 18000000000000202 is hide_status HIDDEN: the brand moderated it."""
    with pytest.raises(Exception, match="No row was found"):
        stored(report_engine, "18000000000000202")
