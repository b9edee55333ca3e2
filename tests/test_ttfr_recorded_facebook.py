"""TTFR end to end: the recorded Facebook Page thread through the real connector, pipeline, store.

The recording (tests/fixtures/facebook/post_comments_stream_p1_fb_developers_page_replies_
2021-08_pyfacebook.json) is one page of GET /{post}/comments?filter=stream on a post of the
Facebook for Developers Page (19292868552), 2021-08-10..12. It was recorded without `id`,
`from` and `parent`; tests/connectors/test_facebook.recorded_stream adds them from each
comment's permalink_url (`comment_id` / `reply_comment_id`) and marks the three replies the
provenance names as the Page's. The connector reads only `id`, `from` and `parent`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.connectors import test_facebook
from tests.test_ttfr_recorded_threads import make_config, pipeline, stored

C1, C2, C9, LATE_C2 = test_facebook.C1, test_facebook.C2, test_facebook.C9, test_facebook.LATE_C2
PAGE_ID = test_facebook.PAGE_ID
POLLED = datetime(2021, 8, 13, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEBOOK_PAGE_TOKEN", "EAAGm0PX4ZCpsBAKZCZCttfrtoken")


def graph(request: httpx.Request) -> httpx.Response:
    """/feed: the recorded post (test_facebook.feed_page); its comments: the recorded page,
    then the empty last page for its `after` cursor."""
    path = request.url.path
    if path.endswith("/feed"):
        return httpx.Response(200, json=test_facebook.feed_page())
    assert path.endswith(f"/{test_facebook.POST_ID}/comments"), path
    if "after" in request.url.params:
        return httpx.Response(200, json={"data": []})
    return httpx.Response(200, json=test_facebook.recorded_stream())


def feed(**options: Any) -> dict[str, Any]:
    return {"type": "facebook", "page_id": PAGE_ID, "backfill": "3d", **options}


def test_page_reply_in_the_thread_gives_ttfr_99810_s(engine: Engine) -> None:
    """C2 (a user asking for help with Instagram): created_time 2021-08-10T19:38:44+0000, a
    Tuesday. The Page's reply under it ("Hi, please access the Instagram Help Center...",
    permalink comment_id=...903973553&reply_comment_id=...983033553): 2021-08-11T23:22:14.
    TTFR = 24 h + (23:22:14 - 19:38:44 = 3 h 43 min 30 s) = 86400 + 13410 = 99810 s.
    Business (Mon-Fri 09-17 UTC): the comment came after Tuesday's close, the reply after
    Wednesday's: all of Wednesday's opening hours lie between = 28800 s.

    C1: 2021-08-10T18:45:03 -> the Page's reply 2021-08-11T23:23:06:
    24 h + 4 h 38 min 3 s = 86400 + 16683 = 103083 s; business again all of Wednesday, 28800 s.
    C9: 2021-08-12T04:15:56 (Thursday, before opening) -> 18:30:51 the same day (after
    closing): 14 h 14 min 55 s = 51295 s; business Thursday 09:00-17:00 = 28800 s.
    The same thread's user wrote again 49 s after the Page (23:23:03): a new mention, open.
    """
    config = make_config(
        feed(), [{"platform": "facebook", "handle": "Facebook for Developers", "id": PAGE_ID}]
    )
    report = pipeline(config, engine, graph).poll("acme", now=POLLED)
    assert report.ok, report.error

    mention = stored(engine, C2)
    assert mention.created_at == datetime(2021, 8, 10, 19, 38, 44, tzinfo=UTC)
    assert mention.status == "answered"
    assert mention.first_response_at == datetime(2021, 8, 11, 23, 22, 14, tzinfo=UTC)
    assert mention.ttfr_seconds == 99810
    assert mention.ttfr_business_seconds == 28800

    assert stored(engine, C1).ttfr_seconds == 103083
    assert stored(engine, C1).ttfr_business_seconds == 28800
    assert stored(engine, C9).ttfr_seconds == 51295
    assert stored(engine, C9).ttfr_business_seconds == 28800

    late = stored(engine, LATE_C2)
    assert late.created_at == datetime(2021, 8, 11, 23, 23, 3, tzinfo=UTC)
    assert late.status == "open" and late.ttfr_seconds is None


def test_a_bot_identitys_reply_does_not_stop_the_clock(engine: Engine) -> None:
    """The same thread with the Page configured as an auto-responder (`bot = true`): its
    three replies are the brand's, but automated, so C1, C2 and C9 stay open."""
    config = make_config(
        feed(),
        [{"platform": "facebook", "handle": "Facebook for Developers", "id": PAGE_ID, "bot": True}],
    )
    report = pipeline(config, engine, graph).poll("acme", now=POLLED)
    assert report.ok, report.error
    for external_id in (C1, C2, C9):
        mention = stored(engine, external_id)
        assert mention.status == "open", external_id
        assert mention.ttfr_seconds is None and mention.first_response_at is None
