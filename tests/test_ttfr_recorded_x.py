"""TTFR end to end on X: recorded posts through the real connector, pipeline and store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.connectors.test_x import (
    ANDREW_POST,
    CALIN_ID,
    CALIN_REPLY,
    brexit,
    obama,
    timeline_of,
)
from tests.test_ttfr_recorded_threads import make_config, pipeline, stored

EMPTY = {"meta": {"result_count": 0}}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "recorded-threads-token")


def mention_page(page: dict[str, Any], post_id: str) -> dict[str, Any]:
    """A search page holding one post of the recording's includes (where the search for
    its hashtags finds it) with its author: what a poll before the reply returned."""
    post = next(t for t in page["includes"]["tweets"] if t["id"] == post_id)
    users = [u for u in page["includes"]["users"] if u["id"] == post["author_id"]]
    return {
        "data": [post],
        "includes": {"users": users},
        "meta": {"result_count": 1, "newest_id": post_id, "oldest_id": post_id},
    }


def two_polls(engine: Engine, identity: dict[str, Any]) -> None:
    """#brexit, 2021-09-22 (a Wednesday): a poll at 10:30 finds @AndrewKnight226's post; the
    next, at 17:00, finds the recorded page and, on the brand's timeline, @calin_a's reply."""
    page = brexit()
    served = {"poll": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        later = served["poll"] > 0
        if request.url.path == "/2/tweets/search/recent":
            if later:
                assert request.url.params["since_id"] == ANDREW_POST
            return httpx.Response(200, json=page if later else mention_page(page, ANDREW_POST))
        assert request.url.path == f"/2/users/{CALIN_ID}/tweets"
        return httpx.Response(200, json=timeline_of(page, CALIN_ID) if later else EMPTY)

    config = make_config({"type": "x", "query": "#brexit"}, [identity])
    monitor = pipeline(config, engine, handler)
    first = monitor.poll("acme", now=datetime(2021, 9, 22, 10, 30, tzinfo=UTC))
    assert first.ok, first.error
    assert stored(engine, ANDREW_POST).status == "open"
    served["poll"] = 1
    second = monitor.poll("acme", now=datetime(2021, 9, 22, 17, 0, tzinfo=UTC))
    assert second.ok, second.error


def test_brand_reply_on_its_timeline_gives_ttfr_22658_s(engine: Engine) -> None:
    """search_recent_brexit_full_expansions_2021-09-22_twarc2.jsonl, @calin_a as the brand.

    @AndrewKnight226's 1440621713281093641: created_at 2021-09-22T10:19:16.000Z.
    @calin_a's 1440716745577140229, referenced_tweets replied_to that post: 16:36:54.000Z.
    TTFR = 16:36:54 - 10:19:16 = 6 h 17 min 38 s = 22,658 s. Both fall inside Wednesday's
    09:00-17:00 UTC opening hours, so the business TTFR is the same 22,658 s. The timeline
    page was read to its end (no next_token), so the TTFR is exact.
    """
    two_polls(engine, {"platform": "x", "handle": "calin_a", "id": CALIN_ID})

    mention = stored(engine, ANDREW_POST)
    assert mention.author == "AndrewKnight226"
    assert mention.created_at == datetime(2021, 9, 22, 10, 19, 16, tzinfo=UTC)
    assert mention.status == "answered"
    assert mention.first_response_at == datetime(2021, 9, 22, 16, 36, 54, tzinfo=UTC)
    assert mention.first_response_by == "calin_a"
    assert mention.first_response_url == f"https://x.com/calin_a/status/{CALIN_REPLY}"
    assert mention.ttfr_seconds == 22658
    assert mention.ttfr_business_seconds == 22658
    assert mention.ttfr_exact is True


def test_bot_identity_reply_does_not_stop_the_clock(engine: Engine) -> None:
    """The same reply by @calin_a configured as the brand's bot: recorded, not a response."""
    two_polls(engine, {"platform": "x", "handle": "calin_a", "id": CALIN_ID, "bot": True})

    mention = stored(engine, ANDREW_POST)
    assert mention.status == "open"
    assert mention.first_response_at is None
    assert mention.ttfr_seconds is None


def test_self_thread_and_a_reply_elsewhere_in_the_conversation_answer_nothing(
    engine: Engine,
) -> None:
    """search_recent_obama_32_replies_2021-04-08_twarc2.jsonl, @gaudofdeath as the brand.

    LauraisOmitted's 1380242347905183747 replies to her own 1380242345652785166: a
    self-thread, so her first post stays open. CDonnyBrook1's 1380241960733044737 is in
    conversation 1380153700044435463; the brand's 1380242054064660481 in that conversation
    replies to another post (1380241544049950720, not polled), so it answers neither the
    conversation's root nor CDonnyBrook1's polled post.
    """
    page = obama()
    gaud = next(u["id"] for u in page["includes"]["users"] if u["username"] == "gaudofdeath")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/2/tweets/search/recent":
            return httpx.Response(200, json=page)
        assert request.url.path == f"/2/users/{gaud}/tweets"
        return httpx.Response(200, json=timeline_of(page, gaud))

    config = make_config(
        {"type": "x", "query": "obama"}, [{"platform": "x", "handle": "gaudofdeath", "id": gaud}]
    )
    report = pipeline(config, engine, handler).poll(
        "acme", now=datetime(2021, 4, 8, 20, 0, tzinfo=UTC)
    )
    assert report.ok, report.error

    laura_first = stored(engine, "1380242345652785166")
    assert laura_first.author == "LauraisOmitted"
    assert stored(engine, "1380242347905183747").author == "LauraisOmitted"
    assert laura_first.status == "open" and laura_first.first_response_at is None
    cdonny = stored(engine, "1380241960733044737")
    assert cdonny.author == "CDonnyBrook1"
    assert cdonny.status == "open" and cdonny.first_response_at is None
